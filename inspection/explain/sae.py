"""A TopK sparse autoencoder over a convolutional feature map: one SAE input per spatial position.

Written here (about fifty lines) rather than taken from EleutherAI's ``sparsify``: its SparseCoder
decodes with a Triton kernel whenever Triton is installed, which fails on a CPU-only machine and
cannot be exported to ONNX, and its trainer hooks Hugging Face language models and token datasets.
This module follows its recipe: TopK activation (Gao et al. 2024), decoder rows kept at unit norm
with the gradient parallel to them removed, the AuxK loss that revives dead latents, Adam with
learning rate 2e-4 / sqrt(latents / 2^14). Activations are divided by one fixed ``scale`` (their
root mean square norm) before encoding, so that the learning rate does not depend on the layer's
magnitude; the reconstruction is multiplied back.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# A latent that has not fired on this many consecutive training vectors counts as dead for AuxK.
DEAD_AFTER_VECTORS = 200_000
AUXK_WEIGHT = 1.0 / 32  # sparsify's default auxk_alpha


class ConvSae(nn.Module):
    """The SAE applied at every position of a (B, C, H, W) map; latents come back as (B, k, H, W) maps."""

    def __init__(self, channels: int, num_latents: int, k: int, scale: float = 1.0, seed: int = 0):
        super().__init__()
        if not 1 <= k <= num_latents:
            raise ValueError(f"k {k}: must be in 1..{num_latents}")
        self.channels, self.num_latents, self.k = channels, num_latents, k
        generator = torch.Generator().manual_seed(seed)
        decoder = torch.randn(num_latents, channels, generator=generator)
        self.W_dec = nn.Parameter(decoder / decoder.norm(dim=1, keepdim=True))
        self.W_enc = nn.Parameter(self.W_dec.detach().clone())  # encoder starts as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(num_latents))
        self.b_dec = nn.Parameter(torch.zeros(channels))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def pre_activations(self, vectors: Tensor) -> Tensor:
        """(N, C) layer vectors -> (N, latents) non-negative pre-activations."""
        return F.relu(F.linear(vectors / self.scale - self.b_dec, self.W_enc, self.b_enc))

    def encode_vectors(self, vectors: Tensor) -> tuple[Tensor, Tensor]:
        """Top-k activations and latent indices, each (N, k)."""
        return self.pre_activations(vectors).topk(self.k, dim=1)

    def decode_vectors(self, top_acts: Tensor, top_indices: Tensor) -> Tensor:
        dense = top_acts.new_zeros(top_acts.shape[0], self.num_latents).scatter(1, top_indices, top_acts)
        return (dense @ self.W_dec + self.b_dec) * self.scale

    def encode(self, feature_map: Tensor) -> tuple[Tensor, Tensor]:
        """Top-k activations and latent indices of a (B, C, H, W) map, each (B, k, H, W)."""
        batch, _, height, width = feature_map.shape
        acts, indices = self.encode_vectors(feature_map.permute(0, 2, 3, 1).reshape(-1, self.channels))
        return (acts.reshape(batch, height, width, self.k).permute(0, 3, 1, 2),
                indices.reshape(batch, height, width, self.k).permute(0, 3, 1, 2))

    def decode(self, top_acts: Tensor, top_indices: Tensor) -> Tensor:
        batch, _, height, width = top_acts.shape
        vectors = self.decode_vectors(top_acts.permute(0, 2, 3, 1).reshape(-1, self.k),
                                      top_indices.permute(0, 2, 3, 1).reshape(-1, self.k))
        return vectors.reshape(batch, height, width, self.channels).permute(0, 3, 1, 2)

    def forward(self, feature_map: Tensor) -> Tensor:
        """The reconstruction of a (B, C, H, W) map from its k strongest latents at each position."""
        return self.decode(*self.encode(feature_map))

    def config(self) -> dict[str, float | int]:
        return {"channels": self.channels, "num_latents": self.num_latents, "k": self.k, "scale": float(self.scale)}

    @staticmethod
    def from_state(config: dict, state: dict[str, Tensor]) -> "ConvSae":
        sae = ConvSae(int(config["channels"]), int(config["num_latents"]), int(config["k"]), float(config["scale"]))
        sae.load_state_dict(state)
        return sae

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def remove_parallel_decoder_gradient(self) -> None:
        """Keep decoder updates tangent to the unit sphere its rows are projected back onto."""
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)
            self.W_dec.grad -= parallel * self.W_dec


def rms_scale(vectors: Tensor) -> float:
    """Root mean square norm of the vectors (N, C): the SAE works on vectors of norm about 1."""
    return float(vectors.float().pow(2).sum(1).mean().sqrt().clamp_min(1e-6))


def fraction_of_variance_unexplained(sae: ConvSae, vectors: Tensor, batch: int = 8192) -> float:
    """sum |x - x_hat|^2 / sum |x - mean(x)|^2 over ``vectors`` (N, C), in the layer's own units."""
    with torch.no_grad():
        mean = vectors.float().mean(0)
        error = total = 0.0
        for start in range(0, len(vectors), batch):
            chunk = vectors[start:start + batch].float()
            error += float((chunk - sae.decode_vectors(*sae.encode_vectors(chunk))).pow(2).sum())
            total += float((chunk - mean).pow(2).sum())
    return error / max(total, 1e-12)


def latent_firing_counts(sae: ConvSae, vectors: Tensor, batch: int = 8192) -> Tensor:
    """How often each latent is among the top k (with a positive activation), over ``vectors`` (N, C)."""
    counts = torch.zeros(sae.num_latents, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(vectors), batch):
            acts, indices = sae.encode_vectors(vectors[start:start + batch].float())
            counts += torch.bincount(indices[acts > 0], minlength=sae.num_latents)
    return counts


def _auxk_loss(sae: ConvSae, pre: Tensor, residual: Tensor, dead: Tensor, total_variance: Tensor) -> Tensor:
    """Dead latents' strongest pre-activations should predict what the live ones left (Gao et al., app. B.1)."""
    num_dead = int(dead.sum())
    if num_dead == 0:
        return pre.new_zeros(())
    k_aux = min(sae.channels // 2, num_dead)
    masked = torch.where(dead[None, :], pre, torch.full_like(pre, -math.inf))
    acts, indices = masked.topk(k_aux, dim=1)
    predicted = pre.new_zeros(pre.shape).scatter(1, indices, acts.clamp_min(0)) @ sae.W_dec
    scale = min(num_dead / (sae.channels // 2), 1.0)
    return scale * (predicted - residual.detach()).pow(2).sum() / total_variance


@dataclass(frozen=True)
class SaeFit:
    steps: int
    seconds: float
    final_training_fvu: float  # mean of the last 20 batches (the held-out FVU is measured by the caller)


def fit_sae(sae: ConvSae, vectors: Tensor, *, steps: int, batch: int = 4096, lr: float | None = None,
            seed: int = 0, log: Callable[[str], None] | None = None) -> SaeFit:
    """Train ``sae`` in place on ``vectors`` (N, C) (raw layer units) with FVU plus AuxK loss."""
    generator = torch.Generator().manual_seed(seed)
    lr = lr or 2e-4 / math.sqrt(sae.num_latents / 2 ** 14)
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr, eps=6.25e-10)
    with torch.no_grad():  # the decoder bias starts at the data mean, as in sparsify
        sae.b_dec.copy_(vectors[:batch * 8].float().mean(0) / sae.scale)
    since_fired = torch.zeros(sae.num_latents, dtype=torch.long)
    started = time.monotonic()
    recent: list[float] = []
    for step in range(steps):
        raw = vectors[torch.randint(0, len(vectors), (batch,), generator=generator)].float()
        pre = sae.pre_activations(raw)
        acts, indices = pre.topk(sae.k, dim=1)
        x = raw / sae.scale  # the loss in SAE units; FVU is the same in either
        residual = x - sae.decode_vectors(acts, indices) / sae.scale
        total_variance = (x - x.mean(0, keepdim=True)).pow(2).sum()
        fvu = residual.pow(2).sum() / total_variance
        dead = since_fired > DEAD_AFTER_VECTORS
        loss = fvu + AUXK_WEIGHT * _auxk_loss(sae, pre, residual, dead, total_variance)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_decoder_gradient()
        optimizer.step()
        sae.normalise_decoder()
        fired = torch.zeros(sae.num_latents, dtype=torch.bool)
        fired[indices[acts > 0]] = True
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + batch)
        recent = (recent + [float(fvu.detach())])[-20:]
        if log and (step % 100 == 0 or step == steps - 1):
            log(f"sae step {step + 1}/{steps}: fvu {recent[-1]:.4f}, dead {int(dead.sum())}/{sae.num_latents}")
    return SaeFit(steps, time.monotonic() - started, sum(recent) / len(recent))
