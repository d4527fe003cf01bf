"""Explainable Stage I: a TopK sparse autoencoder spliced into the detector at one neck layer, with
low-rank adapters trained around it so that the spliced detector keeps the original's outputs
(Chen, Engels & Tegmark, "Low-Rank Adapting Models for Sparse Autoencoders", arXiv 2501.19406)."""
