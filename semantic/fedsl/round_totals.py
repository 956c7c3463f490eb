"""Sums over one FedSL round's steps, and the round's history entry (:class:`RoundTotals`):
traffic, airtime, FLOPs, latency and the convergence-bound quantities (docs/fedsl.md,
"Accounting conventions")."""

from __future__ import annotations

from .config import FedSLConfig

__all__ = ["RoundTotals"]


class RoundTotals:
    """Sums over one round's steps."""

    def __init__(self):
        self.n = 0
        self.loss = self.correct = 0.0
        self.uplink_values = self.uplink_bits = self.channel_uses = self.downlink_bits = 0.0
        self.airtime = self.flops = self.flops_dense = self.memory = 0.0
        self.grad_sq = self.quant_sq = self.drop_sq = self.act_sq = self.chan_sq = self.values = 0.0
        self.steps = 0
        self.bits_known = self.uses_known = True
        self.model_uplink_bits = self.model_downlink_bits = 0.0
        self.down_uses = self.down_airtime = self.down_bits = self.down_errors = 0.0
        self.down_link = False
        self.client_airtime: dict[int, float] = {}

    def add(self, out, cfg: FedSLConfig) -> float:
        """Add one step; returns the step's latency [s] (compute + uplink + downlink)."""
        c = out.cost
        self.n += c.num_samples
        self.steps += 1
        self.loss += out.loss * c.num_samples
        self.correct += out.accuracy * c.num_samples
        self.uplink_values += c.uplink_values
        self.values += c.uplink_padded_values
        if c.uplink_bits is None:
            self.bits_known = False
        else:
            self.uplink_bits += c.uplink_bits
        if c.uplink_channel_uses is None:
            self.uses_known = False
        else:
            self.channel_uses += c.uplink_channel_uses
        airtime = c.uplink_airtime_s if c.uplink_airtime_s is not None else (
            (c.uplink_bits or 0) / cfg.ideal_uplink_rate_bps)
        self.airtime += airtime
        self.client_airtime[c.client_id] = self.client_airtime.get(c.client_id, 0.0) + airtime
        self.downlink_bits += c.downlink_bits
        self.flops += c.client_flops
        self.flops_dense += c.client_flops_dense
        self.memory = max(self.memory, c.client_activation_bytes)
        self.grad_sq += out.grad_sq_norm
        self.quant_sq += out.quantization_sq_error
        self.drop_sq += out.dropout_sq_error
        self.act_sq += out.activation_sq_norm
        self.chan_sq += out.channel_sq_error
        down_s = c.downlink_bits / cfg.downlink_rate_bps if cfg.downlink_rate_bps else 0.0
        if c.downlink_airtime_s is not None:  # the gradient over the link: its airtime
            self.down_link = True
            down_s = c.downlink_airtime_s
            self.down_uses += c.downlink_channel_uses
            self.down_bits += c.downlink_payload_bits
            self.down_errors += c.downlink_bit_errors
        self.down_airtime += down_s
        return c.client_flops / cfg.client_flops_per_s + airtime + down_s

    def record(self, cfg: FedSLConfig, r: int, client_latency: list[float], upload_s: float,
               shared_grid: bool = False) -> dict[str, float]:
        """The round's entries; ``shared_grid``: the clients share one OFDMA grid (disjoint REs), so
        a parallel round's uplink airtime is the longest client's, not the sum."""
        nan = float("nan")
        compute = (sum(client_latency) if cfg.schedule == "sequential" and cfg.is_split else max(client_latency))
        airtime = (max(self.client_airtime.values()) if shared_grid and cfg.schedule == "parallel"
                   and self.client_airtime else self.airtime)
        activations = self.act_sq / self.values if self.values else 0.0
        return {
            "round": r, "train_loss": self.loss / self.n, "train_accuracy": self.correct / self.n,
            "uplink_values": self.uplink_values, "uplink_bits": self.uplink_bits if self.bits_known else nan,
            "uplink_channel_uses": self.channel_uses if self.uses_known and cfg.is_split else nan,
            "uplink_airtime_s": airtime + upload_s, "downlink_bits": self.downlink_bits,
            # downlink over the link: its channel uses, airtime, bit error rate; ideal: NaN (airtime:
            # downlink_bits / downlink_rate_bps when that is set)
            "downlink_channel_uses": self.down_uses if self.down_link else nan,
            "downlink_airtime_s": self.down_airtime if self.down_link or cfg.downlink_rate_bps else nan,
            "downlink_ber": self.down_errors / self.down_bits if self.down_link and self.down_bits else nan,
            "model_uplink_bits": self.model_uplink_bits, "model_downlink_bits": self.model_downlink_bits,
            "client_flops": self.flops, "client_flops_dense": self.flops_dense,
            "client_activation_bytes": self.memory, "latency_s": compute + upload_s,
            # convergence-bound quantities: mean ||g||^2 per step; variances per value
            "grad_sq_norm": self.grad_sq / self.steps,
            "quantization_variance": self.quant_sq / self.uplink_values if self.uplink_values else 0.0,
            "dropout_variance": self.drop_sq / self.values if self.values else 0.0,
            "channel_nmse": (self.chan_sq / self.values) / activations if activations > 0 else 0.0,
        }
