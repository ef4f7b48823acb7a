"""A class-conditional DCGAN for data augmentation, its trainer and a quality measure.

The generator maps a latent vector and a class to an image; the discriminator
scores an image given its class. Both are DCGAN-style (strided transposed
convolutions up, strided convolutions down, batch normalisation, ReLU / leaky
ReLU) and work on any image size: the generator draws at ``ceil(H/4) × ceil(W/4)``,
upsamples twice and crops to ``H × W``. Pixels are in [0, 1] outside this module
and in [-1, 1] (tanh) inside it.

Collapse guard (:func:`gan_quality`): a small CNN "judge" trained on the real
training split labels the generated samples; if the generator ignores its class
or draws garbage, the judge's accuracy on them falls towards chance. A diversity
ratio (per-class pixel spread of generated over real images) falls towards 0 when
the generator collapses onto a few images per class.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from spikerec.compare.baselines.fit import (
    FitConfig,
    evaluate_classifier,
    fit_classifier,
    init_weights,
)
from spikerec.data.loading import Split
from spikerec.errors import ParameterError
from spikerec.validation import check_finite, check_integer


@dataclass(frozen=True)
class GANConfig:
    """Settings of the conditional DCGAN and its judge.

    Attributes
    ----------
    latent_dim : int
        Length of the generator's noise vector z ~ N(0, I).
    width : int
        Feature maps of the widest convolution of both networks (the other has
        twice as many).
    steps : int
        Training steps (one discriminator and one generator update each).
    batch_size : int
    lr : float
        Adam learning rate of both networks (betas 0.5, 0.999, as DCGAN).
    real_label : float
        Target of real images for the discriminator (one-sided label smoothing).
    judge_epochs : int
        Epochs of the judge CNN of :func:`gan_quality` (early stopping, patience 3).
    """

    latent_dim: int = 64
    width: int = 32
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-4
    real_label: float = 0.9
    judge_epochs: int = 10

    def __post_init__(self) -> None:
        for name in ("latent_dim", "width", "steps", "batch_size", "judge_epochs"):
            check_integer(f"gan {name}", getattr(self, name))
        check_finite("gan lr", self.lr)
        if not (isinstance(self.real_label, (int, float)) and 0.5 < self.real_label <= 1.0):
            raise ParameterError(f"gan real_label={self.real_label!r} must be in (0.5, 1]")


def _one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(labels, n_classes).to(torch.float32)


class ConditionalGenerator(nn.Module):
    """``(z [B, latent_dim], class [B]) → image [B, C, H, W]`` in [-1, 1].

    ``[z, one_hot(class)] → Linear → BN → ReLU → [2w, ⌈H/4⌉, ⌈W/4⌉]
    → ConvT(2w → w, 4, stride 2) → BN → ReLU → ConvT(w → C, 4, stride 2) → tanh → crop``.

    Examples
    --------
    >>> g = ConditionalGenerator((1, 8, 8), 10)
    >>> g(torch.zeros(3, 64), torch.tensor([0, 1, 2])).shape
    torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        n_classes: int,
        latent_dim: int = 64,
        width: int = 32,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (int(c), int(h), int(w))
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.base = (math.ceil(h / 4), math.ceil(w / 4))
        self.width = width
        units = 2 * width * self.base[0] * self.base[1]
        self.project = nn.Sequential(
            nn.Linear(latent_dim + n_classes, units), nn.BatchNorm1d(units), nn.ReLU()
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, c, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]`` in [-1, 1] for noise ``[B, latent_dim]`` and classes ``[B]``."""
        x = self.project(torch.cat([z, _one_hot(labels, self.n_classes)], dim=1))
        x = self.up(x.view(-1, 2 * self.width, *self.base))
        _, h, w = self.image_shape
        return x[:, :, :h, :w]


class ConditionalDiscriminator(nn.Module):
    """``(image [B, C, H, W] in [-1, 1], class [B]) → logit [B]`` of "real".

    The class enters as ``n_classes`` constant one-hot planes next to the image:
    ``Conv(C+K → w, 4, stride 2) → LeakyReLU → Conv(w → 2w, 4, stride 2) → BN →
    LeakyReLU → Linear → logit``.
    """

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int, width: int = 32) -> None:
        super().__init__()
        c, h, w = image_shape
        self.n_classes = n_classes
        self.body = nn.Sequential(
            nn.Conv2d(c + n_classes, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        side = (h // 2 // 2, w // 2 // 2)
        self.score = nn.Linear(2 * width * side[0] * side[1], 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` that each image is a real image of its class."""
        planes = _one_hot(labels, self.n_classes)[:, :, None, None]
        planes = planes.expand(-1, -1, images.shape[2], images.shape[3])
        return self.score(self.body(torch.cat([images, planes], dim=1))).squeeze(1)


@dataclass
class GANResult:
    """A trained conditional generator.

    Attributes
    ----------
    generator : ConditionalGenerator
        In eval mode (batch normalisation uses its running statistics).
    train_time_s : float
    history : list of dict
        Every 100 steps: ``step``, ``loss_d``, ``loss_g`` (means since the last entry).
    """

    generator: ConditionalGenerator
    train_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_gan(
    images: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    config: GANConfig,
    *,
    generator: torch.Generator,
) -> GANResult:
    """Train a conditional DCGAN on images ``[N, C, H, W]`` with pixels in [0, 1].

    Parameters
    ----------
    images : Tensor [N, C, H, W]
        Training images, pixels in [0, 1] (the training split only).
    labels : Tensor [N] of int64
    n_classes : int
    config : GANConfig
    generator : torch.Generator
        Every random draw: initialisation, batches, latent noise.

    Returns
    -------
    GANResult

    Notes
    -----
    The standard non-saturating GAN: the discriminator minimises
    ``BCE(D(x, y), real_label) + BCE(D(G(z, y'), y'), 0)``, the generator
    minimises ``BCE(D(G(z, y'), y'), 1)``; fake classes ``y'`` are drawn with the
    class frequencies of the training split.
    """
    if images.dim() != 4 or images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ParameterError(
            f"images [N, C, H, W] and labels [N] must match and not be empty, got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    channels, height, width = (int(s) for s in images.shape[1:])
    shape = (channels, height, width)
    with torch.random.fork_rng(devices=[]):  # default inits must not touch the global stream
        net_g = ConditionalGenerator(shape, n_classes, config.latent_dim, config.width)
        net_d = ConditionalDiscriminator(shape, n_classes, config.width)
    init_weights(net_g, generator)
    init_weights(net_d, generator)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=config.lr, betas=(0.5, 0.999))
    real = images * 2.0 - 1.0
    n = real.shape[0]
    batch = min(config.batch_size, n)
    history: list[dict[str, float]] = []
    sum_d = sum_g = 0.0
    started = time.perf_counter()
    net_g.train()
    net_d.train()
    order, cursor = torch.randperm(n, generator=generator), 0
    for step in range(1, config.steps + 1):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        index = order[cursor : cursor + batch]
        cursor += batch
        x, y = real[index], labels[index]
        # Fake classes follow the training split's class frequencies.
        y_fake = labels[torch.randint(0, n, (batch,), generator=generator)]
        z = torch.randn(batch, config.latent_dim, generator=generator)
        fake = net_g(z, y_fake)

        d_real = net_d(x, y)
        d_fake = net_d(fake.detach(), y_fake)
        loss_d = F.binary_cross_entropy_with_logits(
            d_real, torch.full_like(d_real, config.real_label)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        d_fake = net_d(fake, y_fake)
        loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        sum_d += float(loss_d.detach())
        sum_g += float(loss_g.detach())
        if step % 100 == 0 or step == config.steps:
            count = step - (history[-1]["step"] if history else 0)
            history.append({"step": step, "loss_d": sum_d / count, "loss_g": sum_g / count})
            sum_d = sum_g = 0.0
    net_g.eval()
    return GANResult(generator=net_g, train_time_s=time.perf_counter() - started, history=history)


@torch.no_grad()
def sample_images(
    net_g: ConditionalGenerator,
    labels: torch.Tensor,
    *,
    generator: torch.Generator,
    batch_size: int = 256,
) -> torch.Tensor:
    """Generated images ``[N, C, H, W]`` with pixels in [0, 1], one per class in ``labels [N]``."""
    net_g.eval()
    out = []
    for start in range(0, labels.shape[0], batch_size):
        y = labels[start : start + batch_size]
        z = torch.randn(y.shape[0], net_g.latent_dim, generator=generator)
        out.append((net_g(z, y) + 1.0) / 2.0)
    if not out:
        return torch.zeros(0, *net_g.image_shape)
    return torch.cat(out).clamp_(0.0, 1.0)


class JudgeCNN(nn.Module):
    """A small CNN for :func:`gan_quality`: two convolution blocks and a linear readout.

    ``Conv(C → 16, 3) → ReLU → MaxPool 2 → Conv(16 → 32, 3) → ReLU → AdaptiveAvgPool 4
    → Linear(512 → K)``.
    """

    def __init__(self, in_channels: int, n_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, n_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K]`` of normalised images ``[B, C, H, W]``."""
        return self.net(images)


def diversity_ratio(
    generated: torch.Tensor,
    generated_labels: torch.Tensor,
    real: torch.Tensor,
    real_labels: torch.Tensor,
) -> float:
    """Mean over classes of (pixel std of generated images) / (pixel std of real images).

    Per class: the standard deviation over images of every pixel, averaged over
    pixels; 1 means generated images of a class vary as much as real ones, 0 means
    the generator draws one image per class (mode collapse). Classes missing from
    either set are skipped.
    """
    ratios = []
    for c in torch.unique(real_labels).tolist():
        g = generated[generated_labels == c]
        r = real[real_labels == c]
        if g.shape[0] < 2 or r.shape[0] < 2:
            continue
        spread_real = float(r.std(dim=0).mean())
        if spread_real > 0:
            ratios.append(float(g.std(dim=0).mean()) / spread_real)
    return float(sum(ratios) / len(ratios)) if ratios else float("nan")


def gan_quality(
    generated: Split,
    train: Split,
    val: Split,
    *,
    n_classes: int,
    seed: int,
    judge_epochs: int = 10,
) -> dict[str, float]:
    """How well a classifier trained on real images recognises the generated ones.

    Parameters
    ----------
    generated : Split
        Generated images (normalised like the real ones) labelled with the class
        they were generated for.
    train, val : Split
        The real training split (the judge learns from it) and validation split
        (its reference accuracy on real images).
    n_classes, seed : int
    judge_epochs : int

    Returns
    -------
    dict
        ``judge_accuracy_generated`` (fraction of generated images the judge labels
        with their class; chance is 1/K), ``judge_accuracy_real_val`` (the judge on
        real validation images, for reference), ``diversity_ratio`` (see
        :func:`diversity_ratio`, on normalised pixels).
    """
    with torch.random.fork_rng(devices=[]):
        judge = JudgeCNN(train.images.shape[1], n_classes)
    fit = fit_classifier(
        judge,
        train,
        val,
        FitConfig(epochs=judge_epochs, patience=3, lr=2e-3, seed=seed),
        n_classes=n_classes,
    )
    on_generated = evaluate_classifier(
        fit.model, generated.images, generated.labels, n_classes=n_classes
    )
    return {
        "judge_accuracy_generated": on_generated.accuracy,
        "judge_accuracy_real_val": fit.best_val_accuracy,
        "diversity_ratio": diversity_ratio(
            generated.images, generated.labels, train.images, train.labels
        ),
    }
