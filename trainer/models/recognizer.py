"""MaskOCR-style plate recognizer (Lyu et al., 2022, "MaskOCR: Text Recognition with Masked
Encoder-Decoder Pretraining"), sized for a CPU.

The rectified plate is cut into full-height vertical strips; each strip is one token of a ViT
encoder, so the token count (which dominates the cost) is the number of strips. The encoder is
first trained as a masked autoencoder: most strips are hidden and a light decoder reconstructs
their pixels. For reading, a non-autoregressive decoder of learnable character queries attends to
the encoder's tokens and a linear layer classifies every query over the charset, class 0 being
end/pad, so all characters come out in one pass with their probabilities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class RecognizerSpec:
    input_width: int = 192
    input_height: int = 48
    strip_width: int = 8
    dim: int = 192
    encoder_layers: int = 4
    encoder_heads: int = 4
    decoder_layers: int = 2
    decoder_heads: int = 4
    mlp_ratio: float = 3.0
    dropout: float = 0.1
    max_length: int = 10
    num_classes: int = 70
    mae_decoder_dim: int = 128
    mae_decoder_layers: int = 1
    ctc_head: bool = False

    @property
    def num_strips(self) -> int:
        return self.input_width // self.strip_width

    def to_dict(self) -> dict:
        return asdict(self)


class StripEmbedding(nn.Module):
    """Each full-height strip, flattened, is projected to one token."""

    def __init__(self, spec: RecognizerSpec):
        super().__init__()
        self.spec = spec
        patch_dim = 3 * spec.input_height * spec.strip_width
        self.proj = nn.Linear(patch_dim, spec.dim)

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, strips, 3*H*strip_width). The sizes are the spec's constants,
        so the exported graph computes none of them per call."""
        h, s, n = self.spec.input_height, self.spec.strip_width, self.spec.num_strips
        x = images.reshape(-1, 3, h, n, s).permute(0, 3, 1, 2, 4)
        return x.reshape(-1, n, 3 * h * s)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.patchify(images))


def transformer_encoder(dim: int, heads: int, layers: int, mlp_ratio: float, dropout: float):
    layer = nn.TransformerEncoderLayer(
        dim,
        heads,
        int(dim * mlp_ratio),
        dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class StripViTEncoder(nn.Module):
    """ViT over vertical strips, with learned positions."""

    def __init__(self, spec: RecognizerSpec):
        super().__init__()
        self.embed = StripEmbedding(spec)
        self.pos = nn.Parameter(torch.zeros(1, spec.num_strips, spec.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = transformer_encoder(
            spec.dim, spec.encoder_heads, spec.encoder_layers, spec.mlp_ratio, spec.dropout
        )
        self.norm = nn.LayerNorm(spec.dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.embed(images) + self.pos))

    def forward_visible(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Encode only the strips whose indices are in ``keep`` (B, K): the MAE encoder pass."""
        tokens = self.embed(images) + self.pos
        idx = keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        return self.norm(self.blocks(torch.gather(tokens, 1, idx)))


class MaskedAutoencoder(nn.Module):
    """MAE pre-training: encode the visible strips, reconstruct the hidden strips' pixels."""

    def __init__(self, encoder: StripViTEncoder, spec: RecognizerSpec, mask_ratio: float = 0.7):
        super().__init__()
        self.encoder, self.spec, self.mask_ratio = encoder, spec, mask_ratio
        d = spec.mae_decoder_dim
        self.to_decoder = nn.Linear(spec.dim, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder_pos = nn.Parameter(torch.zeros(1, spec.num_strips, d))
        nn.init.trunc_normal_(self.decoder_pos, std=0.02)
        self.decoder = transformer_encoder(d, 4, spec.mae_decoder_layers, 2.0, 0.0)
        self.to_pixels = nn.Linear(d, 3 * spec.input_height * spec.strip_width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the hidden strips, each strip's pixels normalised (as MAE)."""
        b, n = images.shape[0], self.spec.num_strips
        n_keep = max(1, round(n * (1 - self.mask_ratio)))
        order = torch.rand(b, n, device=images.device).argsort(1)
        keep, hidden = order[:, :n_keep], order[:, n_keep:]
        latent = self.to_decoder(self.encoder.forward_visible(images, keep))
        full = self.mask_token.expand(b, n, -1).clone()
        full.scatter_(1, keep.unsqueeze(-1).expand(-1, -1, full.shape[-1]), latent)
        pred = self.to_pixels(self.decoder(full + self.decoder_pos))
        target = self.encoder.embed.patchify(images)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
        gather = hidden.unsqueeze(-1).expand(-1, -1, target.shape[-1])
        return ((torch.gather(pred, 1, gather) - torch.gather(target, 1, gather)) ** 2).mean()


class QueryDecoder(nn.Module):
    """Learnable character queries: self-attention among them, cross-attention to the strips."""

    def __init__(self, spec: RecognizerSpec):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, spec.max_length, spec.dim))
        nn.init.trunc_normal_(self.queries, std=0.02)
        layer = nn.TransformerDecoderLayer(
            spec.dim,
            spec.decoder_heads,
            int(spec.dim * spec.mlp_ratio),
            spec.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerDecoder(layer, spec.decoder_layers)
        self.norm = nn.LayerNorm(spec.dim)
        self.classify = nn.Linear(spec.dim, spec.num_classes)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        q = self.queries.expand(memory.shape[0], -1, -1)
        return self.classify(self.norm(self.blocks(q, memory)))


class CTCHead(nn.Module):
    """A CTC classifier (Graves et al., 2006) of the strip tokens, class 0 doubling as the
    blank: one transformer layer, so that a strip can see its neighbours (where a character
    ends), then a linear layer per strip."""

    def __init__(self, spec: RecognizerSpec):
        super().__init__()
        self.blocks = transformer_encoder(spec.dim, spec.encoder_heads, 1, 2.0, spec.dropout)
        self.norm = nn.LayerNorm(spec.dim)
        self.classify = nn.Linear(spec.dim, spec.num_classes)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        return self.classify(self.norm(self.blocks(memory)))


class PlateRecognizer(nn.Module):
    """Encoder + query decoder; returns logits (B, max_length, num_classes).

    With ``spec.ctc_head`` a CTC head reads every strip token too. The queries find their
    character by attention alone and can lose count on free-form plates (a letter read twice or
    skipped); CTC has to align each character to its own strips, so it counts them, and the two
    heads' texts can be rescored by each other (joint CTC-attention, Kim et al., 2017).
    """

    def __init__(self, spec: RecognizerSpec):
        super().__init__()
        self.spec = spec
        self.encoder = StripViTEncoder(spec)
        self.decoder = QueryDecoder(spec)
        self.ctc = CTCHead(spec) if spec.ctc_head else None

    def forward(
        self, images: torch.Tensor, with_ctc: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Query logits (B, max_length, classes); ``with_ctc``: and CTC logits (B, strips,
        classes)."""
        memory = self.encoder(images)
        if with_ctc:
            return self.decoder(memory), self.ctc(memory)
        return self.decoder(memory)


class SoftmaxHead(nn.Module):
    """What is exported: probabilities, so the runtime needs no torch-side knowledge; the
    CTC head's per-strip ones as a second output where the model has one."""

    def __init__(self, model: PlateRecognizer):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.model.ctc is None:
            return self.model(images).softmax(-1)
        chars, strips = self.model(images, with_ctc=True)
        return chars.softmax(-1), strips.softmax(-1)
