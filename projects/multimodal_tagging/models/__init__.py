from projects.multimodal_tagging.models.tagger import PARAM_GROUPS, MultimodalTagger

__all__ = ["PARAM_GROUPS", "MultimodalTagger"]
