"""Notebook 09_generative: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a complete student function with one classic mistake (or another
convention); its grade cell (visible and hidden checks) must fail with an AssertionError whose
message names it. Valid alternatives (another way of writing the same function) must pass.
Conventions: log_var is log sigma^2; schedules have T + 1 entries indexed by the step t
(betas[0] = 0, alpha_bar[0] = 1); guidance (1 + w) eps_cond - w eps_uncond; noise is an argument.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, run_grade_cell

NOTEBOOK = "09_generative"
GRADE_IDS = ["check_pixelcnn_mask", "check_masked_conv2d", "check_bits_per_dim", "check_reparameterize", "check_kl",
             "check_vae_forward", "check_negative_elbo", "check_discriminator_loss", "check_generator_losses",
             "check_gan_step", "check_schedules", "check_q_sample", "check_ddpm_loss", "check_posterior",
             "check_predict_x0", "check_reverse_step", "check_ddpm_sample", "check_guided_eps"]


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


def passes(grade_id, **overrides):
    run_grade_cell(NOTEBOOK, grade_id, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    passes(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


# ------------------------------------------------------------------------------ PixelCNN masks
def raster_mask(k, mask_type):
    c = k // 2
    mask = torch.zeros(k, k)
    mask[:c] = 1.0
    mask[c, :c + (mask_type == "B")] = 1.0
    return mask


def mask_with(change):
    def pixelcnn_mask(kernel_size, mask_type):
        return change(raster_mask(kernel_size, mask_type), kernel_size, mask_type)
    return pixelcnn_mask


def test_mask_a_letting_the_centre_through_is_named():
    fails("check_pixelcnn_mask", "mask A lets the centre pixel through",
          pixelcnn_mask=mask_with(lambda m, k, t: raster_mask(k, "B")))


def test_mask_b_hiding_the_centre_is_named():
    fails("check_pixelcnn_mask", "mask B hides the centre", pixelcnn_mask=mask_with(lambda m, k, t: raster_mask(k, "A")))


def test_mask_of_the_future_is_named():
    fails("check_pixelcnn_mask", "AFTER the centre", pixelcnn_mask=mask_with(lambda m, k, t: m.flip(0, 1)))


def test_transposed_mask_is_named():
    fails("check_pixelcnn_mask", "transposed", pixelcnn_mask=mask_with(lambda m, k, t: m.T.contiguous()))


def test_mask_keeping_the_rows_below_is_named():
    def keep_below(m, k, t):
        m[k // 2 + 1:] = 1.0
        return m
    fails("check_pixelcnn_mask", "rows below the centre are kept", pixelcnn_mask=mask_with(keep_below))


def test_mask_keeping_the_right_of_the_centre_row_is_named():
    def keep_right(m, k, t):
        m[k // 2, k // 2 + 1:] = 1.0
        return m
    fails("check_pixelcnn_mask", "right of the centre", pixelcnn_mask=mask_with(keep_right))


def test_mask_of_the_wrong_dtype_fails():
    fails("check_pixelcnn_mask", "dtype float64, expected float32", pixelcnn_mask=mask_with(lambda m, k, t: m.double()))


def test_mask_as_booleans_via_a_loop_passes_too():
    def loop_mask(kernel_size, mask_type):
        c = kernel_size // 2
        rows = [[1.0 if (u, v) < (c, c) or ((u, v) == (c, c) and mask_type == "B") else 0.0
                 for v in range(kernel_size)] for u in range(kernel_size)]
        return torch.tensor(rows, dtype=torch.float32)
    passes("check_pixelcnn_mask", pixelcnn_mask=loop_mask)


class GoodMaskedConv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, mask_type):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.register_buffer("mask", raster_mask(kernel_size, mask_type))


class UnmaskedConv(GoodMaskedConv):
    def forward(self, x):
        return super().forward(x)


class NoBiasConv(GoodMaskedConv):
    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, padding=self.padding)


class UnpaddedConv(GoodMaskedConv):
    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias)


class InPlaceMaskConv(GoodMaskedConv):          # valid: masks the stored weights, then convolves
    def forward(self, x):
        with torch.no_grad():
            self.weight.mul_(self.mask)
        return super().forward(x)


def test_unmasked_convolution_is_named():
    fails("check_masked_conv2d", "weights are not masked", MaskedConv2d=UnmaskedConv)


def test_convolution_without_bias_is_named():
    fails("check_masked_conv2d", "bias is missing", MaskedConv2d=NoBiasConv)


def test_convolution_without_padding_fails_with_the_hint():
    fails("check_masked_conv2d", "wrong shape", MaskedConv2d=UnpaddedConv)


def test_masking_the_stored_weights_in_forward_passes():
    passes("check_masked_conv2d", MaskedConv2d=InPlaceMaskConv)


# ------------------------------------------------------------------------------ bits per dimension
def bits_reference(logits, x):
    return F.cross_entropy(logits, x) / math.log(2)


def test_bits_per_dim_with_cross_entropy_passes():
    passes("check_bits_per_dim", bits_per_dim=bits_reference)


def test_bits_per_dim_with_torch_distributions_passes():
    def with_categorical(logits, x):
        log_p = torch.distributions.Categorical(logits=logits.movedim(1, -1)).log_prob(x)
        return -log_p.mean() / math.log(2)
    passes("check_bits_per_dim", bits_per_dim=with_categorical)


def test_bits_in_nats_are_named():
    fails("check_bits_per_dim", "that is in nats", bits_per_dim=lambda logits, x: F.cross_entropy(logits, x))


def test_bits_per_image_are_named():
    fails("check_bits_per_dim", "bits per image",
          bits_per_dim=lambda logits, x: bits_reference(logits, x) * x[0].numel())


def test_logits_used_as_log_probabilities_are_named():
    def raw(logits, x):
        return -logits.gather(1, x.unsqueeze(1)).mean() / math.log(2)
    fails("check_bits_per_dim", "logits are used as log-probabilities", bits_per_dim=raw)


def test_softmax_over_the_wrong_axis_is_named():
    def last_axis(logits, x):
        return -F.log_softmax(logits, dim=-1).gather(1, x.unsqueeze(1)).mean() / math.log(2)
    fails("check_bits_per_dim", "wrong axis", bits_per_dim=last_axis)


def test_log_of_softmax_overflows_and_is_named():
    def unstable(logits, x):
        return -torch.log(torch.softmax(logits, dim=1)).gather(1, x.unsqueeze(1)).mean() / math.log(2)
    fails("check_bits_per_dim", "not finite", bits_per_dim=unstable)


# ------------------------------------------------------------------------------ VAE
def test_log_var_as_standard_deviation_is_named():
    fails("check_reparameterize", "used as the standard deviation",
          reparameterize=lambda mu, log_var, eps: mu + log_var * eps)


def test_log_var_as_variance_is_named():
    fails("check_reparameterize", "used as the variance",
          reparameterize=lambda mu, log_var, eps: mu + log_var.sqrt() * eps)


def test_exp_of_log_var_as_sigma_is_named():
    fails("check_reparameterize", "variance sigma\\^2, not sigma",
          reparameterize=lambda mu, log_var, eps: mu + log_var.exp() * eps)


def test_reparameterize_changing_eps_in_place_is_named():
    def in_place(mu, log_var, eps):
        eps.mul_(torch.exp(0.5 * log_var))
        return eps.add_(mu)
    fails("check_reparameterize", "in place", reparameterize=in_place)


def test_reparameterize_through_numpy_loses_the_gradient():
    def via_numpy(mu, log_var, eps):
        z = mu.detach().numpy() + np.exp(0.5 * log_var.detach().numpy()) * eps.numpy()
        return torch.from_numpy(z)
    fails("check_reparameterize", "does not depend differentiably", reparameterize=via_numpy)


def test_reparameterize_with_sqrt_of_exp_passes():
    passes("check_reparameterize", reparameterize=lambda mu, log_var, eps: mu + log_var.exp().sqrt() * eps)


def kl_reference(mu, log_var):
    return -0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum(dim=1)


def test_kl_with_the_wrong_sign_is_named():
    fails("check_kl", "wrong sign", kl_to_standard_normal=lambda mu, log_var: -kl_reference(mu, log_var))


def test_kl_without_one_half_is_named():
    fails("check_kl", "factor 1/2 is missing", kl_to_standard_normal=lambda mu, log_var: 2 * kl_reference(mu, log_var))


def test_kl_averaged_over_latent_dimensions_is_named():
    fails("check_kl", "averaged", kl_to_standard_normal=lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).mean(dim=1))


def test_kl_with_log_var_as_variance_is_named():
    fails("check_kl", "sigma\\^2 must be exp\\(log_var\\)",
          kl_to_standard_normal=lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv).sum(dim=1))


def test_kl_with_log_var_as_standard_deviation_is_named():
    def as_std(mu, log_var):
        sigma = log_var.abs() + 1e-30
        return (0.5 * (sigma ** 2 + mu ** 2 - 1) - sigma.log()).sum(dim=1)
    fails("check_kl", "used as the standard deviation", kl_to_standard_normal=as_std)


def test_kl_with_torch_distributions_passes():
    def with_distributions(mu, log_var):
        q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))
        return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    passes("check_kl", kl_to_standard_normal=with_distributions)


def vae_forward_with(split):
    def vae_forward(encoder, decoder, x, eps):
        mu, log_var = split(encoder(x))
        return decoder(mu + torch.exp(0.5 * log_var) * eps), mu, log_var
    return vae_forward


def test_vae_forward_with_swapped_halves_is_named():
    fails("check_vae_forward", "swapped", vae_forward=vae_forward_with(lambda h: h.chunk(2, dim=1)[::-1]))


def test_vae_forward_with_interleaved_halves_is_named():
    fails("check_vae_forward", "every other column", vae_forward=vae_forward_with(lambda h: (h[:, 0::2], h[:, 1::2])))


def test_vae_forward_decoding_the_mean_is_named():
    def decode_mean(encoder, decoder, x, eps):
        mu, log_var = encoder(x).chunk(2, dim=1)
        return decoder(mu), mu, log_var
    fails("check_vae_forward", "decoder got mu instead of a sample", vae_forward=decode_mean)


def test_vae_forward_with_split_passes():
    def with_split(encoder, decoder, x, eps):
        h = encoder(x)
        mu, log_var = torch.split(h, h.shape[1] // 2, dim=1)
        return decoder(mu + eps * (0.5 * log_var).exp()), mu, log_var
    passes("check_vae_forward", vae_forward=with_split)


def elbo_with(reduce_recon=lambda r: r.sum(dim=1), combine=lambda recon, kl: (recon + kl).mean(), kl=kl_reference):
    def negative_elbo(recon_nll, mu, log_var):
        return combine(reduce_recon(recon_nll), kl(mu, log_var))
    return negative_elbo


def test_reconstruction_averaged_over_dimensions_is_named():
    fails("check_negative_elbo", "reconstruction is averaged over the data dimensions",
          negative_elbo=elbo_with(reduce_recon=lambda r: r.mean(dim=1)))


def test_elbo_summed_over_the_batch_is_named():
    fails("check_negative_elbo", "summed over the batch", negative_elbo=elbo_with(combine=lambda r, kl: (r + kl).sum()))


def test_elbo_subtracting_the_kl_is_named():
    fails("check_negative_elbo", "KL is subtracted", negative_elbo=elbo_with(combine=lambda r, kl: (r - kl).mean()))


def test_elbo_without_kl_is_named():
    fails("check_negative_elbo", "KL term is missing", negative_elbo=elbo_with(combine=lambda r, kl: r.mean()))


def test_a_wrong_kl_is_not_counted_twice_in_the_elbo():
    wrong_kl = lambda mu, log_var: 2 * kl_reference(mu, log_var)
    passes("check_negative_elbo", kl_to_standard_normal=wrong_kl, negative_elbo=elbo_with(kl=wrong_kl))


def test_elbo_with_its_own_correct_kl_passes_next_to_a_wrong_kl():
    passes("check_negative_elbo", kl_to_standard_normal=lambda mu, log_var: -kl_reference(mu, log_var),
           negative_elbo=elbo_with())


# ------------------------------------------------------------------------------ GAN losses
def bce(logits, label):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))


def test_discriminator_loss_with_binary_cross_entropy_passes():
    passes("check_discriminator_loss", discriminator_loss=lambda real, fake: bce(real, 1) + bce(fake, 0))


def test_discriminator_loss_with_logsigmoid_passes():
    passes("check_discriminator_loss",
           discriminator_loss=lambda real, fake: -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean())


def test_discriminator_labels_swapped_are_named():
    fails("check_discriminator_loss", "labels are swapped", discriminator_loss=lambda r, f: bce(r, 0) + bce(f, 1))


def test_discriminator_double_sigmoid_is_named():
    fails("check_discriminator_loss", "sigmoid is applied twice",
          discriminator_loss=lambda r, f: bce(torch.sigmoid(r), 1) + bce(torch.sigmoid(f), 0))


def test_halved_discriminator_loss_is_named_as_a_convention():
    fails("check_discriminator_loss", "loss is halved", discriminator_loss=lambda r, f: 0.5 * (bce(r, 1) + bce(f, 0)))


def test_discriminator_loss_over_the_concatenated_batch_is_named():
    def together(real, fake):
        logits = torch.cat([real.flatten(), fake.flatten()])
        labels = torch.cat([torch.ones(real.numel()), torch.zeros(fake.numel())]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, labels)
    fails("check_discriminator_loss", "averaged together", discriminator_loss=together)


def test_discriminator_loss_through_probabilities_overflows_and_is_named():
    def unstable(real, fake):
        return -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    fails("check_discriminator_loss", "not finite", discriminator_loss=unstable)


def test_discriminator_loss_with_the_wrong_sign_is_named():
    fails("check_discriminator_loss", "wrong sign", discriminator_loss=lambda r, f: -(bce(r, 1) + bce(f, 0)))


def nonsaturating(fake):
    return bce(fake, 1)


def minimax(fake):
    return -bce(fake, 0)


def test_generator_losses_with_softplus_pass():
    passes("check_generator_losses", generator_loss_nonsaturating=lambda f: F.softplus(-f).mean(),
           generator_loss_minimax=lambda f: -F.softplus(f).mean())


def test_nonsaturating_loss_with_the_wrong_labels_is_named():
    fails("check_generator_losses", "labels are wrong", generator_loss_nonsaturating=lambda f: bce(f, 0))


def test_nonsaturating_loss_that_is_the_minimax_one_is_named():
    fails("check_generator_losses", "that is the minimax loss", generator_loss_nonsaturating=minimax)


def test_nonsaturating_loss_with_double_sigmoid_is_named():
    fails("check_generator_losses", "sigmoid is applied twice",
          generator_loss_nonsaturating=lambda f: bce(torch.sigmoid(f), 1))


def test_minimax_loss_that_is_the_nonsaturating_one_is_named():
    fails("check_generator_losses", "that is the non-saturating loss", generator_loss_minimax=nonsaturating)


def test_minimax_loss_with_the_wrong_sign_is_named():
    fails("check_generator_losses", "wrong sign \\(or the wrong labels\\)", generator_loss_minimax=lambda f: bce(f, 0))


def test_generator_loss_through_probabilities_overflows_and_is_named():
    fails("check_generator_losses", "not finite",
          generator_loss_nonsaturating=lambda f: -torch.log(torch.sigmoid(f)).mean())


def test_generator_loss_without_a_gradient_is_named():
    fails("check_generator_losses", "carries no gradient",
          generator_loss_nonsaturating=lambda f: torch.tensor(bce(f, 1).item(), dtype=f.dtype))


# ------------------------------------------------------------------------------ GAN step
def trainer_with(mistake=None):
    """A GANTrainer whose step has one mistake (None: a correct one written differently from the solution)."""

    class Trainer:
        def __init__(self, generator, discriminator, make_optimizer=None):
            if make_optimizer is None:
                make_optimizer = lambda parameters: torch.optim.Adam(parameters, lr=1e-3, betas=(0.5, 0.999))
            self.generator, self.discriminator = generator, discriminator
            self.g_optimizer = make_optimizer(generator.parameters())
            self.d_optimizer = make_optimizer(discriminator.parameters())

        def step(self, real, z, saturating=False):
            G, D = self.generator, self.discriminator
            g_loss_fn = minimax if saturating and mistake != "ignores saturating" else nonsaturating
            if mistake == "old discriminator":          # the generator's loss judged by D before its update
                old_D = copy.deepcopy(D)
                fake = G(z)
                self.d_optimizer.zero_grad()
                d_loss = bce(D(real), 1) + bce(D(fake.detach()), 0)
                d_loss.backward()
                self.d_optimizer.step()
                self.g_optimizer.zero_grad()
                g_loss = g_loss_fn(old_D(fake))
                g_loss.backward()
                self.g_optimizer.step()
                return d_loss.item(), g_loss.item()
            if mistake == "no detach":
                self.d_optimizer.zero_grad()
                self.g_optimizer.zero_grad()
                fake = G(z)
                d_loss = bce(D(real), 1) + bce(D(fake), 0)
                d_loss.backward(retain_graph=True)
                self.d_optimizer.step()
                g_loss = g_loss_fn(D(G(z)))
                g_loss.backward()
                self.g_optimizer.step()
                return d_loss.item(), g_loss.item()
            if mistake != "D grads not zeroed":
                self.d_optimizer.zero_grad(set_to_none=False)
            with torch.no_grad():                       # no_grad instead of detach: valid
                fake = G(z)
            d_loss = bce(D(real), 1) + bce(D(fake), 0)
            d_loss.backward()
            self.d_optimizer.step()
            if mistake != "G grads not zeroed":
                self.g_optimizer.zero_grad()
            g_loss = g_loss_fn(D(G(z)))                 # G(z) computed again: valid
            g_loss.backward()
            self.g_optimizer.step()
            if mistake == "D stepped in the G step":
                self.d_optimizer.step()
            if mistake == "wrong order":
                return g_loss.item(), d_loss.item()
            if mistake == "tensors":
                return d_loss.detach(), g_loss.detach()
            return d_loss.item(), g_loss.item()

    return Trainer


def test_gan_step_written_differently_passes():
    passes("check_gan_step", GANTrainer=trainer_with(None))


def test_gan_step_without_detach_or_zeroed_generator_is_named():
    fails("check_gan_step", "also holds the gradient of the discriminator's loss", GANTrainer=trainer_with("no detach"))


def test_gan_step_with_the_old_discriminator_is_named():
    fails("check_gan_step", "BEFORE its update", GANTrainer=trainer_with("old discriminator"))


def test_gan_step_not_zeroing_the_discriminator_is_named():
    fails("check_gan_step", "discriminator's gradients are not zeroed", GANTrainer=trainer_with("D grads not zeroed"))


def test_gan_step_not_zeroing_the_generator_is_named():
    fails("check_gan_step", "generator's gradients are not zeroed", GANTrainer=trainer_with("G grads not zeroed"))


def test_gan_step_moving_the_discriminator_in_the_generator_step_is_named():
    fails("check_gan_step", "changes the discriminator", GANTrainer=trainer_with("D stepped in the G step"))


def test_gan_step_returning_the_losses_in_the_wrong_order_is_named():
    fails("check_gan_step", "wrong order", GANTrainer=trainer_with("wrong order"))


def test_gan_step_returning_tensors_is_named():
    fails("check_gan_step", "Python floats", GANTrainer=trainer_with("tensors"))


def test_gan_step_ignoring_the_saturating_flag_fails():
    fails("check_gan_step", "generator and the discriminator after 2 step", GANTrainer=trainer_with("ignores saturating"))


def test_a_wrong_loss_function_is_not_counted_twice_in_the_gan_step():
    wrong = lambda real, fake: bce(real, 0) + bce(fake, 1)

    class TrainerWithOwnLoss(trainer_with(None)):
        def step(self, real, z, saturating=False):
            self.d_optimizer.zero_grad()
            fake = self.generator(z)
            d_loss = wrong(self.discriminator(real), self.discriminator(fake.detach()))
            d_loss.backward()
            self.d_optimizer.step()
            self.g_optimizer.zero_grad()
            g_loss = (minimax if saturating else nonsaturating)(self.discriminator(fake))
            g_loss.backward()
            self.g_optimizer.step()
            return d_loss.item(), g_loss.item()

    passes("check_gan_step", discriminator_loss=wrong, GANTrainer=TrainerWithOwnLoss)


# ------------------------------------------------------------------------------ schedules
def linear_reference(num_steps, beta_start=1e-4, beta_end=0.02):
    return torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)])


def cosine_reference(num_steps, s=0.008, max_beta=0.999, square=True, clip=True, from_start=False):
    t = torch.arange(num_steps + 1, dtype=torch.float64)
    f = torch.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** (2 if square else 1)
    betas = 1 - (f[1:] / f[0] if from_start else f[1:] / f[:-1])
    return torch.cat([torch.zeros(1, dtype=torch.float64), betas.clamp(max=max_beta) if clip else betas])


def test_linear_schedule_without_the_leading_zero_fails_with_the_hint():
    fails("check_schedules", "T \\+ 1 entries",
          linear_beta_schedule=lambda T, a=1e-4, b=0.02: torch.linspace(a, b, T, dtype=torch.float64))


def test_linear_schedule_over_t_plus_one_points_is_named():
    fails("check_schedules", "betas\\[0\\] must be 0",
          linear_beta_schedule=lambda T, a=1e-4, b=0.02: torch.linspace(a, b, T + 1, dtype=torch.float64))


def test_linear_schedule_in_float32_fails():
    fails("check_schedules", "dtype float32, expected float64",
          linear_beta_schedule=lambda T, a=1e-4, b=0.02: linear_reference(T, a, b).float())


def test_cosine_schedule_without_the_square_is_named():
    fails("check_schedules", "SQUARED cosine",
          cosine_beta_schedule=lambda T, s=0.008, m=0.999: cosine_reference(T, s, m, square=False))


def test_cosine_schedule_returning_one_minus_alpha_bar_is_named():
    fails("check_schedules", "total noise up to step t",
          cosine_beta_schedule=lambda T, s=0.008, m=0.999: cosine_reference(T, s, m, from_start=True))


def test_cosine_schedule_without_clipping_is_named():
    fails("check_schedules", "not clipped", cosine_beta_schedule=lambda T, s=0.008, m=0.999: cosine_reference(T, s, m, clip=False))


def test_alpha_instead_of_alpha_bar_is_named():
    fails("check_schedules", "that is alpha_t = 1 - beta_t", alpha_bars=lambda betas: 1 - betas)


def test_cumulative_product_of_the_betas_is_named():
    fails("check_schedules", "cumulative product of the betas", alpha_bars=lambda betas: torch.cumprod(betas, 0))


def test_shifted_cumulative_product_is_named():
    fails("check_schedules", "shifted by one step",
          alpha_bars=lambda betas: torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)[:-1]]))


def test_cumulative_sum_is_named():
    fails("check_schedules", "cumulative sum", alpha_bars=lambda betas: torch.cumsum(1 - betas, 0))


def test_schedules_written_with_numpy_and_logs_pass():
    def alpha_bars_by_logs(betas):
        return torch.exp(torch.cumsum(torch.log1p(-betas), 0))
    passes("check_schedules", alpha_bars=alpha_bars_by_logs,
           linear_beta_schedule=lambda T, a=1e-4, b=0.02: torch.from_numpy(np.concatenate([[0.0], np.linspace(a, b, T)])))


# ------------------------------------------------------------------------------ forward process
def per_example(values, like):
    return values.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def q_sample_with(index=lambda t: t, signal=lambda a: a.sqrt(), noise=lambda a: (1 - a).sqrt()):
    def q_sample(x0, t, eps, alpha_bar):
        a = per_example(alpha_bar[index(t).clamp(0, len(alpha_bar) - 1)], x0)
        return signal(a) * x0 + noise(a) * eps
    return q_sample


def q_sample_reference(x0, t, eps, alpha_bar):
    a = per_example(alpha_bar[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def test_q_sample_without_square_roots_is_named():
    fails("check_q_sample", "square roots are missing", q_sample=q_sample_with(signal=lambda a: a, noise=lambda a: 1 - a))


def test_q_sample_without_the_noise_root_is_named():
    fails("check_q_sample", "noise's square root is missing", q_sample=q_sample_with(noise=lambda a: 1 - a))


def test_q_sample_without_the_signal_root_is_named():
    fails("check_q_sample", "signal's square root is missing", q_sample=q_sample_with(signal=lambda a: a))


def test_q_sample_off_by_one_below_is_named():
    fails("check_q_sample", "not alpha_bar\\[t - 1\\]", q_sample=q_sample_with(index=lambda t: t - 1))


def test_q_sample_off_by_one_above_is_named():
    fails("check_q_sample", "not alpha_bar\\[t \\+ 1\\]", q_sample=q_sample_with(index=lambda t: t + 1))


def test_q_sample_with_alpha_instead_of_alpha_bar_is_named():
    def with_alpha(x0, t, eps, alpha_bar):
        alpha = alpha_bar[t] / alpha_bar[(t - 1).clamp(min=0)]
        a = per_example(alpha, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps
    fails("check_q_sample", "alpha instead of alpha_bar", q_sample=with_alpha)


def test_q_sample_broadcast_along_the_last_axis_is_named():
    def last_axis(x0, t, eps, alpha_bar):
        a = alpha_bar[t].to(x0.dtype)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps
    fails("check_q_sample", "broadcast along the wrong axis", q_sample=last_axis)


def test_q_sample_returning_float64_fails_with_the_hint():
    def no_cast(x0, t, eps, alpha_bar):
        a = alpha_bar[t].reshape(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * eps
    fails("check_q_sample", "cast alpha_bar\\[t\\] to x0.dtype", q_sample=no_cast)


def test_q_sample_changing_x0_in_place_is_named():
    def in_place(x0, t, eps, alpha_bar):
        a = per_example(alpha_bar[t], x0)
        return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * eps)
    fails("check_q_sample", "in place", q_sample=in_place)


def test_q_sample_with_view_and_torch_where_passes():
    def other_way(x0, t, eps, alpha_bar):
        a = alpha_bar.to(x0.dtype)[t].view(len(t), *([1] * (x0.dim() - 1))).expand_as(x0)
        return torch.addcmul((1 - a).sqrt() * eps, a.sqrt(), x0)
    passes("check_q_sample", q_sample=other_way)


def ddpm_loss_with(target="eps", model_input="x_t", step=lambda t: t, reduce=lambda e: e.mean(), q=q_sample_reference):
    def ddpm_loss(eps_model, x0, t, eps, alpha_bar, labels=None):
        x_t = q(x0, t, eps, alpha_bar)
        given = x_t if model_input == "x_t" else x0
        prediction = eps_model(given, step(t)) if labels is None else eps_model(given, step(t), labels)
        return reduce(((eps if target == "eps" else x0) - prediction) ** 2)
    return ddpm_loss


def test_ddpm_loss_with_mse_loss_passes():
    passes("check_ddpm_loss", ddpm_loss=ddpm_loss_with(reduce=lambda e: e.sum() / e.numel()))


def test_ddpm_loss_predicting_x0_is_named():
    fails("check_ddpm_loss", "target is x_0", ddpm_loss=ddpm_loss_with(target="x0"))


def test_ddpm_loss_feeding_the_clean_data_is_named():
    fails("check_ddpm_loss", "given the clean x_0", ddpm_loss=ddpm_loss_with(model_input="x0"))


def test_ddpm_loss_with_the_previous_step_is_named():
    fails("check_ddpm_loss", "given t - 1", ddpm_loss=ddpm_loss_with(step=lambda t: (t - 1).clamp(min=0)))


def test_ddpm_loss_summed_is_named():
    fails("check_ddpm_loss", "squared errors are summed", ddpm_loss=ddpm_loss_with(reduce=lambda e: e.sum()))


def test_ddpm_loss_summed_per_example_is_named():
    fails("check_ddpm_loss", "summed over each example's dimensions",
          ddpm_loss=ddpm_loss_with(reduce=lambda e: e.reshape(len(e), -1).sum(dim=1).mean()))


def test_ddpm_loss_forgetting_the_labels_fails():
    def no_labels(eps_model, x0, t, eps, alpha_bar, labels=None):
        return ((eps - eps_model(q_sample_reference(x0, t, eps, alpha_bar), t)) ** 2).mean()
    with pytest.raises(TypeError, match="labels"):
        run_grade_cell(NOTEBOOK, "check_ddpm_loss", ddpm_loss=no_labels)


def test_a_wrong_q_sample_is_not_counted_twice_in_the_loss():
    wrong_q = q_sample_with(index=lambda t: t - 1)
    passes("check_ddpm_loss", q_sample=wrong_q, ddpm_loss=ddpm_loss_with(q=wrong_q))


# ------------------------------------------------------------------------------ posterior, x0, sampling
def posterior_with(prev=lambda t: t - 1, x_t_alpha="alpha", roots=True, variance="posterior"):
    def posterior_mean_variance(x0, x_t, t, betas, alpha_bar):
        beta, a, a_prev = betas[t], alpha_bar[t], alpha_bar[prev(t)]
        alpha = 1 - beta if x_t_alpha == "alpha" else a
        root = torch.sqrt if roots else (lambda v: v)
        mean = per_example(root(a_prev) * beta / (1 - a), x0) * x0 + per_example(root(alpha) * (1 - a_prev) / (1 - a), x0) * x_t
        var = {"posterior": (1 - a_prev) / (1 - a) * beta, "beta": beta,
               "std": ((1 - a_prev) / (1 - a) * beta).sqrt()}[variance]
        return mean, var.to(x0.dtype)
    return posterior_mean_variance


def test_posterior_off_by_one_is_named():
    fails("check_posterior", "off-by-one", posterior_mean_variance=posterior_with(prev=lambda t: t))


def test_posterior_off_by_one_in_the_x0_coefficient_only_is_named():
    def x0_coefficient_off(x0, x_t, t, betas, alpha_bar):
        beta, a, a_prev = betas[t], alpha_bar[t], alpha_bar[t - 1]
        mean = per_example(a.sqrt() * beta / (1 - a), x0) * x0 + per_example((1 - beta).sqrt() * (1 - a_prev) / (1 - a), x0) * x_t
        return mean, ((1 - a_prev) / (1 - a) * beta).to(x0.dtype)
    fails("check_posterior", "the x_0 coefficient uses alpha_bar_\\(t-1\\)", posterior_mean_variance=x0_coefficient_off)


def test_posterior_with_alpha_bar_for_alpha_is_named():
    fails("check_posterior", "alpha_bar instead of alpha", posterior_mean_variance=posterior_with(x_t_alpha="alpha_bar"))


def test_posterior_without_roots_is_named():
    fails("check_posterior", "square roots are missing", posterior_mean_variance=posterior_with(roots=False))


def test_posterior_variance_beta_is_named_as_the_other_choice():
    fails("check_posterior", "other choice sigma_t\\^2 = beta_t", posterior_mean_variance=posterior_with(variance="beta"))


def test_posterior_returning_the_standard_deviation_is_named():
    fails("check_posterior", "square root of the variance", posterior_mean_variance=posterior_with(variance="std"))


def predict_x0_with(root=torch.sqrt, sign=-1, index=lambda t: t, divide=True):
    def predict_x0(x_t, t, eps_hat, alpha_bar):
        a = per_example(alpha_bar[index(t).clamp(min=0)], x_t)
        value = x_t + sign * root(1 - a) * eps_hat
        return value / root(a) if divide else value * root(a)
    return predict_x0


def test_predict_x0_without_roots_is_named():
    fails("check_predict_x0", "square roots are missing", predict_x0=predict_x0_with(root=lambda v: v))


def test_predict_x0_adding_the_noise_is_named():
    fails("check_predict_x0", "noise must be subtracted", predict_x0=predict_x0_with(sign=+1))


def test_predict_x0_off_by_one_is_named():
    fails("check_predict_x0", "off-by-one", predict_x0=predict_x0_with(index=lambda t: t - 1))


def test_predict_x0_multiplying_is_named():
    fails("check_predict_x0", "do not multiply", predict_x0=predict_x0_with(divide=False))


def posterior_reference(x0, x_t, t, betas, alpha_bar):
    return posterior_with()(x0, x_t, t, betas, alpha_bar)


def reverse_step_with(noise_scale="std", clip_where="x0", predict=predict_x0_with(), posterior=posterior_reference):
    def reverse_step(eps_hat, x_t, t, z, betas, alpha_bar, clip=None):
        x0_hat = predict(x_t, t, eps_hat, alpha_bar)
        if clip is not None and clip_where == "x0":
            x0_hat = x0_hat.clamp(-clip, clip)
        mean, variance = posterior(x0_hat, x_t, t, betas, alpha_bar)
        scale = {"std": variance.sqrt(), "variance": variance, "beta": betas[t].sqrt().to(x_t.dtype),
                 "none": torch.zeros_like(variance)}[noise_scale]
        out = mean + per_example(scale, x_t) * z
        return out.clamp(-clip, clip) if clip is not None and clip_where == "output" else out
    return reverse_step


def test_reverse_step_written_as_ddpm_update_passes_without_clipping_and_with_it():
    passes("check_reverse_step", reverse_step=reverse_step_with())


def test_reverse_step_scaling_noise_by_the_variance_is_named():
    fails("check_reverse_step", "scaled by the variance", reverse_step=reverse_step_with(noise_scale="variance"))


def test_reverse_step_with_beta_variance_is_named_as_the_other_choice():
    fails("check_reverse_step", "noise has variance beta_t", reverse_step=reverse_step_with(noise_scale="beta"))


def test_reverse_step_without_noise_is_named():
    fails("check_reverse_step", "no noise is added", reverse_step=reverse_step_with(noise_scale="none"))


def test_reverse_step_ignoring_clip_is_named():
    fails("check_reverse_step", "clip is ignored", reverse_step=reverse_step_with(clip_where="nowhere"))


def test_reverse_step_clamping_the_output_is_named():
    fails("check_reverse_step", "output was clamped", reverse_step=reverse_step_with(clip_where="output"))


def test_a_wrong_predict_x0_is_not_counted_twice_in_the_reverse_step():
    wrong = predict_x0_with(root=lambda v: v)
    passes("check_reverse_step", predict_x0=wrong, reverse_step=reverse_step_with(predict=wrong))


def sample_with(steps=lambda T: range(T, 0, -1), noise_index=lambda step, T: step - 1, model_step=lambda s: s,
                as_int=False, reverse=reverse_step_with()):
    def ddpm_sample(eps_model, x_T, noise, betas, alpha_bar, clip=None):
        x, T = x_T, len(betas) - 1
        for step in steps(T):
            t = torch.full((len(x),), step, dtype=torch.int64)
            eps_hat = eps_model(x, model_step(step) if as_int else torch.full((len(x),), model_step(step), dtype=torch.int64))
            x = reverse(eps_hat, x, t, noise[noise_index(step, T)], betas, alpha_bar, clip)
        return x
    return ddpm_sample


def test_ddpm_sample_written_differently_passes():
    passes("check_ddpm_sample", ddpm_sample=sample_with())


def test_ddpm_sample_stopping_at_two_is_named():
    fails("check_ddpm_sample", "stops at t = 2", ddpm_sample=sample_with(steps=lambda T: range(T, 1, -1)))


def test_ddpm_sample_starting_one_step_late_is_named():
    fails("check_ddpm_sample", "starts at t = T - 1", ddpm_sample=sample_with(steps=lambda T: range(T - 1, 0, -1)))


def test_ddpm_sample_running_a_step_zero_is_named():
    fails("check_ddpm_sample", "step t = 0", ddpm_sample=sample_with(steps=lambda T: range(T, -1, -1)))


def test_ddpm_sample_with_the_noise_reversed_is_named():
    fails("check_ddpm_sample", "noise is used in the wrong order", ddpm_sample=sample_with(noise_index=lambda s, T: T - s))


def test_ddpm_sample_giving_the_model_the_previous_step_is_named():
    fails("check_ddpm_sample", "model was given t - 1", ddpm_sample=sample_with(model_step=lambda s: max(s - 1, 1)))


def test_ddpm_sample_giving_the_model_an_int_fails_with_a_clear_error():
    with pytest.raises(TypeError, match="expects t as a \\(N,\\) int64 tensor"):
        run_grade_cell(NOTEBOOK, "check_ddpm_sample", ddpm_sample=sample_with(as_int=True))


def test_a_wrong_reverse_step_is_not_counted_twice_in_the_sampler():
    wrong = reverse_step_with(noise_scale="variance")
    passes("check_ddpm_sample", reverse_step=wrong, ddpm_sample=sample_with(reverse=wrong))


# ------------------------------------------------------------------------------ guidance
def test_guidance_in_the_other_convention_is_named():
    fails("check_guided_eps", "other convention", guided_eps=lambda c, u, w: u + w * (c - u))


def test_guidance_with_swapped_predictions_is_named():
    fails("check_guided_eps", "swapped", guided_eps=lambda c, u, w: (1 + w) * u - w * c)


def test_guidance_adding_the_unconditional_prediction_is_named():
    fails("check_guided_eps", "must be subtracted", guided_eps=lambda c, u, w: (1 + w) * c + w * u)


def test_guidance_written_as_a_lerp_passes():
    passes("check_guided_eps", guided_eps=lambda c, u, w: torch.lerp(u, c, 1 + w))
