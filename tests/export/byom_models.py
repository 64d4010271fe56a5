"""Generators as users bring them, for the bring-your-own-model tests.

``ExamplesDCGAN`` and ``ExamplesVAE`` follow ``pytorch/examples`` (``dcgan/main.py``,
``vae/main.py``; BSD 3-Clause, Copyright (c) 2017 PyTorch contributors) line for line except
for the sizes passed in; ``ESPCN`` is that repository's ``super_resolution/model.py`` net fed
latent maps. ``MLPGenerator``, ``LabelGenerator`` and ``UpsampleConvGenerator`` follow the
classic GAN, the conditional GAN and the DCGAN (upsample + conv, as progressive generators grow)
of ``eriklindernoren/PyTorch-GAN`` (MIT). ``StyleLike`` is a small mapping + synthesis network
with per-layer noise inputs and a truncation psi, as StyleGAN's generators take them. The rest
are the mistakes genedge must refuse.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ExamplesDCGAN(nn.Module):
    """pytorch/examples dcgan/main.py ``Generator``: (N, nz, 1, 1) -> (N, nc, 64, 64), tanh."""

    def __init__(self, ngpu: int = 1, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.is_cuda and self.ngpu > 1:
            return nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        return self.main(input)


def randomise_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics, as a trained model has."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            assert m.running_var is not None
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=gen))
    return module


class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py ``VAE``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))


class _Decoder(nn.Module):
    def __init__(self, vae: ExamplesVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def vae_decoder() -> nn.Module:
    """A factory, as ``--module models.py:vae_decoder`` takes one: the VAE's decoder."""
    return _Decoder(ExamplesVAE())


class ESPCN(nn.Module):
    """pytorch/examples super_resolution ``Net`` (Conv + PixelShuffle), fed a latent map."""

    def __init__(self, upscale_factor: int = 3) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return torch.tanh(self.pixel_shuffle(self.conv4(x)))


class MLPGenerator(nn.Module):
    """PyTorch-GAN implementations/gan/gan.py ``Generator``."""

    def __init__(self, latent_dim: int = 100, img_shape: tuple[int, ...] = (1, 28, 28)) -> None:
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat: int, out_feat: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            nn.Linear(512, int(torch.tensor(img_shape).prod())),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class LabelGenerator(nn.Module):
    """PyTorch-GAN implementations/cgan/cgan.py ``Generator``: (z, labels) -> image."""

    def __init__(
        self, n_classes: int = 10, latent_dim: int = 32, img_shape: tuple[int, ...] = (1, 28, 28)
    ) -> None:
        super().__init__()
        self.img_shape = img_shape
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(
            nn.Linear(latent_dim + n_classes, 128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(128, 256),
            nn.BatchNorm1d(256, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, int(torch.tensor(img_shape).prod())),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gen_input = torch.cat((self.label_emb(labels), noise), -1)
        img = self.model(gen_input)
        return img.view(img.size(0), *self.img_shape)


class UpsampleConvGenerator(nn.Module):
    """PyTorch-GAN implementations/dcgan/dcgan.py ``Generator``: Linear, then nearest
    upsampling and 3x3 convolutions, (N, latent_dim) -> (N, channels, img_size, img_size)."""

    def __init__(self, latent_dim: int = 100, img_size: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 128 * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.l1(z)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


def wide_mlp() -> nn.Module:
    """A factory: PyTorch-GAN's MLP generator making non-square RGB images (3, 12, 20)."""
    return MLPGenerator(latent_dim=32, img_shape=(3, 12, 20))


class StyleLike(nn.Module):
    """Mapping z -> w with the truncation trick, then synthesis with per-layer noise maps.

    ``forward(z, noise0, noise1, psi)``: noise0 (N, 1, 4, 4), noise1 (N, 1, 8, 8), psi (N,).
    """

    def __init__(self, z_dim: int = 16, ch: int = 8) -> None:
        super().__init__()
        self.mapping = nn.Sequential(
            nn.Linear(z_dim, z_dim), nn.LeakyReLU(0.2), nn.Linear(z_dim, z_dim)
        )
        self.register_buffer("w_avg", torch.zeros(z_dim))
        self.const = nn.Parameter(torch.randn(1, ch, 4, 4))
        self.style0 = nn.Linear(z_dim, ch)
        self.style1 = nn.Linear(z_dim, ch)
        self.noise_strength = nn.Parameter(torch.full((2,), 0.1))
        self.conv0 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.to_rgb = nn.Conv2d(ch, 3, 1)

    def forward(
        self, z: torch.Tensor, noise0: torch.Tensor, noise1: torch.Tensor, psi: torch.Tensor
    ) -> torch.Tensor:
        w = self.mapping(z)
        w = self.w_avg + psi[:, None] * (w - self.w_avg)
        x = self.const.expand(z.shape[0], -1, -1, -1)
        x = self.conv0(x * (1 + self.style0(w))[:, :, None, None])
        x = F.leaky_relu(x + self.noise_strength[0] * noise0, 0.2)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.conv1(x * (1 + self.style1(w))[:, :, None, None])
        x = F.leaky_relu(x + self.noise_strength[1] * noise1, 0.2)
        return torch.tanh(self.to_rgb(x))


class NoisyDCGAN(ExamplesDCGAN):
    """Draws its own noise in forward (a common export mistake)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input + 0.05 * torch.randn_like(input))


class NoiseAsInputDCGAN(ExamplesDCGAN):
    """The fix: the same noise, passed in as an input the runtime draws from the seed."""

    def forward(self, input: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.main(input + 0.05 * noise)


class FrozenBatch(MLPGenerator):
    """``view(64, ...)``: the batch size baked into forward."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z).view(64, *self.img_shape)


class BatchStatistics(MLPGenerator):
    """BatchNorm without running statistics: samples depend on their batch even in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.model[3] = nn.BatchNorm1d(256, track_running_stats=False)
