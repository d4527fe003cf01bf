"""Stage I vision: the camera defect detector, its evaluation metrics and projection onto the part."""
