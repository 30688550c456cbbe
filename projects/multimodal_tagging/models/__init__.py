from projects.multimodal_tagging.models.tagger import PARAM_GROUPS, MultimodalTagger, count_parameters

__all__ = ["PARAM_GROUPS", "MultimodalTagger", "count_parameters"]
