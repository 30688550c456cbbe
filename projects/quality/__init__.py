"""Product image quality: accept/reject, a quality score and defect reasons, plus a folder audit."""
