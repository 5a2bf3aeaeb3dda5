"""Progressive recurrent codec (Toderici et al. 2017, Johnston et al. 2018).

Iteration ``t`` encodes the residual ``r = x - x_hat`` of the previous
reconstruction (``x_hat`` starts mid-grey), emits ``bits`` binary codes
(+1/-1) per 16x16 block, and the decoder turns all codes so far into a new
image. Recurrent state carries across iterations on both sides, so one
model serves every rate and a file cut after any iteration decodes.

* Encoder: GDN convolutions (stride 16) on the residual, then a ConvGRU with
  3x3 hidden kernels at the code resolution, then a 1x1 binarizer.
* Decoder: a ConvGRU with 3x3 hidden kernels on the codes, then GDN
  sub-pixel convolutions up to a correction added to the previous image
  ("additive" reconstruction). "One-shot" reconstruction (each iteration
  predicts the whole image from the decoder state) learned slower here:
  validation MS-SSIM 0.843/0.894 at 0.25/0.5 bpp after 1,000 steps against
  0.862/0.906 for additive, in paired runs.
* Priming (Johnston 2018): ``prime`` extra GRU steps on the first input,
  before the first codes (encoder) and the first image (decoder), so the
  hidden state gathers spatial context at no cost in bits. Each 3x3 hidden
  step widens the state's receptive field by one block. Johnston's
  "diffusion", ``diffusion`` extra steps on every later iteration, is a
  model setting (``config``), since it is part of what the model learned.
* Scaled-additive reconstruction (Toderici 2017), with ``iteration_gain``:
  iteration ``t`` codes the residual times a learned gain ``g_t`` and adds
  the correction divided by ``g_t``, so every iteration sees inputs of the
  first one's scale. Without it (model id 2) the residual rms stalled at
  0.052 after 4 iterations, with 44% of the decoder state beyond 0.95.
* Latent reconstruction (``reconstruction="latent"``): the iterations add
  their (gain-divided) readouts, plus with ``code_readout`` a 3x3
  convolution of their codes, to a latent, and the image is the synthesis
  of that latent, as a transform codec's latent refined bit by bit. Tried
  because with image-domain additions (model 4) each iteration after the
  fourth removed under 5% of the residual's energy (validation crops:
  89%, 45%, 19%, 9%, 4%, 2%, 1%, 0.6%) and MS-SSIM stalled at 0.960 from
  0.75 bpp on. It moved the late iterations a little (0.9618 against
  0.9601 at 1 bpp, 350 steps after the switch) but not the stall (the
  latent model 6: 91%, 42%, 18%, 8%, 4%, 2%, 1%, 0.5%).
* Per-iteration code readouts (``iteration_readout``, with
  ``code_readout``): iteration ``t`` adds its own 3x3 readout of its codes
  to the shared one. Tried against the stall: with model 6 at iteration 6,
  even codes optimised through the decoder (continuous, in [-1, 1]) gained
  only 0.12 dB, so the decoder, not the encoder, limits late iterations;
  one shared readout maps every iteration's codes into the same subspace.
* Latent-residual encoding (``encoder_input="latent"``, latent models
  only): the analysis stack runs once, on the image, to a target latent
  ``g_a(x)``, and iteration ``t`` encodes ``g_a(x) - Y`` (the canvas) instead
  of the analysis of the image residual (the analysis runs once instead of
  once per iteration). Training adds the target's own reconstruction
  ``0.5 + g_s(g_a(x))`` to the loss, so the target is a latent the synthesis
  renders well. The decoder is unchanged: this is an encoder setting. Tried
  as residual quantisation of a fixed target against the stall; it did not
  pay: from model 6's run the validation BD-rate fell from -40.6% to -30.7%
  in 1,300 steps with the late iterations as flat, and even with the latent
  pulled toward the target (training option ``--latent-pull``) the latent
  residual stalled after the fifth iteration like the image one.

* Gated readout (``gated_readout``, latent models without a code
  readout): the latent increment is ``o(v(codes) * (1 + tanh(u(state))))``,
  linear in the iteration's codes through channels the decoder state
  opens or closes, instead of a readout of the state. Tried because with
  ``readout(state)`` added every iteration the state is both the memory of
  what was coded and the next increment (model 6: 22% of its units beyond
  0.95 after 8 iterations, the last adding 0.09 dB); here the state only
  steers what the codes mean. Its first run (from transform weights, 0.6
  CPU-hours) was no better than per-iteration readouts at the same point
  (validation BD-rate against JPEG -19.5% against -21.1%); continued to 3.1
  CPU-hours (-36.4%) it ends 8 iterations at 0.9639 MS-SSIM, the ceiling
  the other decoders reached (model 6: 0.9648).

The convolution stacks have the shapes of the transform codec's
``g_a``/``g_s``, so a run can start from a trained transform model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import GDN, Upsample, conv

# Iterations with their own residual gain (scaled-additive models).
GAIN_ITERATIONS = 16
# Channels between the codes and the latent increment of gated_readout models.
GATE_CHANNELS = 256


class ConvGRU(nn.Module):
    """Convolutional GRU cell: ``k_in`` input kernel, 3x3 hidden kernel."""

    def __init__(self, cin: int, hidden: int, k_in: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.w_x = conv(cin, 3 * hidden, k_in)
        self.w_h = conv(hidden, 3 * hidden, 3)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xz, xr, xn = self.w_x(x).chunk(3, 1)
        hz, hr, hn = self.w_h(h).chunk(3, 1)
        z = torch.sigmoid(xz + hz)
        r = torch.sigmoid(xr + hr)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h


def binarize(v: torch.Tensor, stochastic: bool) -> torch.Tensor:
    """+1/-1 codes from values in (-1, 1). Training draws +1 with probability
    (1 + v) / 2 (Toderici 2015; unbiased, straight-through gradient); coding
    takes the sign, with 0 mapped to +1."""
    if stochastic:
        b = torch.where(torch.rand_like(v) < (1 + v) / 2, 1.0, -1.0).to(v.dtype)
    else:
        b = torch.where(v >= 0, 1.0, -1.0).to(v.dtype)
    return v + (b - v).detach()


class RecurrentCodec(nn.Module):
    """Iterative residual coder with ConvGRU state (see module docstring)."""

    family = "recurrent"
    stride = 16

    def __init__(
        self,
        n: int = 128,
        m: int = 192,
        hidden: int = 192,
        bits: int = 32,
        iteration_gain: bool = False,
        reconstruction: str = "image",
        code_readout: bool = False,
        diffusion: int = 0,
        encoder_input: str = "image",
        iteration_readout: bool = False,
        gated_readout: bool = False,
    ) -> None:
        super().__init__()
        if reconstruction not in ("image", "latent"):
            raise ValueError(f"unknown reconstruction {reconstruction!r}")
        if not 0 <= diffusion <= 15:
            raise ValueError(f"diffusion {diffusion} outside 0..15")
        if code_readout and reconstruction != "latent":
            raise ValueError("code_readout needs latent reconstruction")
        if encoder_input not in ("image", "latent"):
            raise ValueError(f"unknown encoder_input {encoder_input!r}")
        if encoder_input == "latent" and reconstruction != "latent":
            raise ValueError("encoder_input latent needs latent reconstruction")
        if iteration_readout and not code_readout:
            raise ValueError("iteration_readout needs code_readout")
        if gated_readout and (reconstruction != "latent" or code_readout):
            raise ValueError("gated_readout needs latent reconstruction without code_readout")
        self.n, self.m, self.hidden, self.bits = n, m, hidden, bits
        self.iteration_gain = iteration_gain
        self.latent = reconstruction == "latent"
        self.diffusion = diffusion
        self.latent_input = encoder_input == "latent"
        if code_readout:
            # A direct path from this iteration's codes to its latent
            # increment, beside the GRU state's; zero at the start, so a
            # model without it starts a run with it unchanged.
            self.code_readout = conv(bits, m, 3)
            nn.init.zeros_(self.code_readout.weight)
            nn.init.zeros_(self.code_readout.bias)
        else:
            self.code_readout = None
        # Per-iteration additions to the code readout (zero at the start, so a
        # run can start from a model with one shared readout).
        self.code_readouts = nn.ModuleList(conv(bits, m, 3) for _ in range(GAIN_ITERATIONS if iteration_readout else 0))
        for layer in self.code_readouts:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        if iteration_gain:
            # log g_t for t = 0..GAIN_ITERATIONS-1; later iterations use the last.
            self.log_iteration_gain = nn.Parameter(torch.zeros(GAIN_ITERATIONS))
        self.g_a = nn.Sequential(
            conv(3, n, 5, 2), GDN(n), conv(n, n, 5, 2), GDN(n),
            conv(n, n, 5, 2), GDN(n), conv(n, m, 5, 2),
        )
        # Per-channel gains between the convolution stacks and the GRUs, in
        # the log domain so that training moves them quickly. Initialised to
        # the scales of a trained transform model's latents (analysis output
        # rms ~5, synthesis input rms ~1.8): with plain 1x1 layers the readout
        # fed the synthesis latents 5-9x too small and the decoder state
        # saturated (observed: 44% of the state beyond 0.95 at iteration 8).
        self.log_in_gain = nn.Parameter(torch.full((m,), math.log(0.2)))
        self.log_out_gain = nn.Parameter(torch.full((m,), math.log(5.0)))
        self.enc_rnn = ConvGRU(m, hidden)
        self.binarizer = conv(hidden, bits, 1)
        self.dec_rnn = ConvGRU(bits, hidden)
        self.gated = gated_readout
        if gated_readout:
            # The increment is linear in this iteration's codes, through
            # channels that the state opens or closes: the state steers
            # what the codes mean and never adds anything by itself.
            self.gate_codes = conv(bits, GATE_CHANNELS, 3)
            self.gate_state = conv(hidden, GATE_CHANNELS, 1)
            self.gate_out = conv(GATE_CHANNELS, m, 1)
        else:
            self.readout = conv(hidden, m, 1)
        self.g_s = nn.Sequential(
            Upsample(m, n), GDN(n, inverse=True), Upsample(n, n), GDN(n, inverse=True),
            Upsample(n, n), GDN(n, inverse=True), Upsample(n, 3),
        )

    # Model options and their defaults: a weights file's config names only
    # the options that differ, so files of older models read unchanged.
    OPTION_DEFAULTS = {
        "iteration_gain": False, "reconstruction": "image", "code_readout": False, "diffusion": 0, "encoder_input": "image",
        "iteration_readout": False, "gated_readout": False,
    }

    def options(self) -> dict:
        """Every model option, defaults included."""
        return {
            "iteration_gain": self.iteration_gain, "reconstruction": "latent" if self.latent else "image",
            "code_readout": self.code_readout is not None, "diffusion": self.diffusion,
            "encoder_input": "latent" if self.latent_input else "image",
            "iteration_readout": len(self.code_readouts) > 0, "gated_readout": self.gated,
        }

    def config(self) -> dict:
        """Sizes, plus the options that differ from their defaults."""
        changed = {k: v for k, v in self.options().items() if v != self.OPTION_DEFAULTS[k]}
        return {"n": self.n, "m": self.m, "hidden": self.hidden, "bits": self.bits, **changed}

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Everything the decoder uses (spec 7.2): training only the rest
        changes what an encoder emits but not how files decode."""
        head = [self.gate_codes, self.gate_state, self.gate_out] if self.gated else [self.readout]
        modules = [self.dec_rnn, *head, self.g_s, self.code_readouts]
        if self.code_readout is not None:
            modules.append(self.code_readout)
        params = [p for module in modules for p in module.parameters()] + [self.log_out_gain]
        return params + ([self.log_iteration_gain] if self.iteration_gain else [])

    def gru_steps(self, t: int, prime: int) -> int:
        """GRU steps at iteration ``t`` (from 0): 1, plus the priming steps on
        the first iteration and the model's diffusion steps on later ones (spec 7.2)."""
        return 1 + (prime if t == 0 else self.diffusion)

    def gain(self, t: int) -> torch.Tensor | float:
        """Residual gain of iteration ``t`` (1 without ``iteration_gain``)."""
        if not self.iteration_gain:
            return 1.0
        return self.log_iteration_gain[min(t, GAIN_ITERATIONS - 1)].exp()

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zero encoder/decoder states and the empty canvas, for a padded
        batch: a mid-grey image (so the first residual is centred), or a
        zero latent (whose :meth:`picture` is mid-grey plus the synthesis bias)."""
        b, _, h, w = x.shape
        zeros = x.new_zeros(b, self.hidden, h // self.stride, w // self.stride)
        if self.latent:
            return zeros, zeros.clone(), x.new_zeros(b, self.m, h // self.stride, w // self.stride)
        return zeros, zeros.clone(), torch.full_like(x, 0.5)

    def step_encoder(self, features: torch.Tensor, h_enc: torch.Tensor, steps: int) -> torch.Tensor:
        """Encoder state after ``steps`` GRU steps on the same input."""
        for _ in range(steps):
            h_enc = self.enc_rnn(features, h_enc)
        return h_enc

    def step_decoder(self, codes: torch.Tensor, h_dec: torch.Tensor, steps: int) -> torch.Tensor:
        """Decoder state after ``steps`` GRU steps on the same codes."""
        for _ in range(steps):
            h_dec = self.dec_rnn(codes, h_dec)
        return h_dec

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder refines toward: the image, or with
        ``encoder_input="latent"`` its analysis ``g_a(x)``."""
        return self.g_a(x) if self.latent_input else x

    def residual(self, target: torch.Tensor, canvas: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """What is still missing: ``target - x_hat`` in the image, or ``target - canvas`` in the latent."""
        return target - canvas if self.latent_input else target - x_hat

    def encode_step(
        self, residual: torch.Tensor, h_enc: torch.Tensor, t: int, steps: int, stochastic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes of iteration ``t`` and the new encoder state, from :meth:`residual`."""
        h_enc = self.step_encoder(self.analysis(residual, t), h_enc, steps)
        return binarize(torch.tanh(self.binarizer(h_enc)), stochastic), h_enc

    def decode_step(
        self, codes: torch.Tensor, h_dec: torch.Tensor, canvas: torch.Tensor, t: int, steps: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Canvas after the codes of iteration ``t``, and the new decoder state."""
        h_dec = self.step_decoder(codes, h_dec, steps)
        return canvas + self.increment(h_dec, codes, t), h_dec

    def increment(self, h_dec: torch.Tensor, codes: torch.Tensor, t: int) -> torch.Tensor:
        """What iteration ``t`` adds to the canvas: an image correction
        (:meth:`render`), or a latent one (from the decoder state, plus
        from the codes with ``code_readout``), divided by the iteration's gain."""
        if not self.latent:
            return self.render(h_dec, t)
        if self.gated:
            gate = 1 + torch.tanh(self.gate_state(h_dec))
            update = self.gate_out(self.gate_codes(codes) * gate)
        else:
            update = self.readout(h_dec)
        if self.code_readout is not None:
            update = update + self.code_readout(codes)
        if len(self.code_readouts):
            update = update + self.code_readouts[min(t, GAIN_ITERATIONS - 1)](codes)
        return update * self.log_out_gain.exp().view(-1, 1, 1) / self.gain(t)

    def picture(self, canvas: torch.Tensor) -> torch.Tensor:
        """The image a canvas shows: itself, or the synthesis of the latent."""
        return 0.5 + self.g_s(canvas) if self.latent else canvas

    def analysis(self, residual: torch.Tensor, t: int) -> torch.Tensor:
        """Encoder GRU input from the :meth:`residual` of iteration ``t``
        (an image residual goes through the analysis stack first)."""
        scaled = residual * self.gain(t)
        return (scaled if self.latent_input else self.g_a(scaled)) * self.log_in_gain.exp().view(-1, 1, 1)

    def render(self, h_dec: torch.Tensor, t: int) -> torch.Tensor:
        """Synthesis of the decoder state: the correction to the image at iteration ``t``."""
        return self.g_s(self.readout(h_dec) * self.log_out_gain.exp().view(-1, 1, 1)) / self.gain(t)

    def forward(
        self, x: torch.Tensor, iterations: int, prime: int = 0, stochastic: bool = False
    ) -> list[torch.Tensor]:
        """Reconstructions after each iteration; ``stochastic`` draws the
        codes as in training (else their sign, as in coding). ``x`` has sides
        that are multiples of 16."""
        return [x_hat for _, x_hat in self.unroll(x, self.target(x), iterations, prime, stochastic)]

    def unroll(
        self, x: torch.Tensor, target: torch.Tensor, iterations: int, prime: int = 0, stochastic: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(canvas, reconstruction) after each iteration, refining toward
        ``target`` (:meth:`target` of ``x``)."""
        h_enc, h_dec, canvas = self.init_state(x)
        x_hat = self.picture(canvas)
        outputs = []
        for t in range(iterations):
            steps = self.gru_steps(t, prime)
            codes, h_enc = self.encode_step(self.residual(target, canvas, x_hat), h_enc, t, steps, stochastic)
            canvas, h_dec = self.decode_step(codes, h_dec, canvas, t, steps)
            x_hat = self.picture(canvas)
            outputs.append((canvas, x_hat))
        return outputs
