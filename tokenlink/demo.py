"""The README demo: uncoded 16-QAM BER vs Es/N0 over AWGN, Rayleigh and
TDL-C, with perfect and LS-estimated CSI, against closed form.

Writes ``ber_vs_snr.csv`` (one row per curve and SNR point), ``run.json``
(configurations, seed, versions, run time) and the figure
``ber_vs_snr.png`` / ``.pdf`` into the output folder.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from tokenlink.phy import OFDMLink, PhyConfig, set_seed, simulate_ber
from tokenlink.phy.ber import BERCurve
from tokenlink.phy.theory import ber_awgn, ber_rayleigh

from .provenance import git_commit, software_versions

__all__ = ["DemoSettings", "run_demo"]

CHANNELS = {
    "AWGN": {"model": "awgn"},
    "Rayleigh": {"model": "rayleigh", "coherence": "block"},
    "TDL-C": {"model": "tdl", "profile": "C", "delay_spread_s": 300e-9, "carrier_frequency_hz": 3.5e9,
              "speed_mps": 0.0, "max_speed_mps": 10.0},
}
RECEIVERS = {
    "perfect CSI": {"estimator": "perfect", "equalizer": "lmmse"},
    "LS CSI": {"estimator": "ls", "interpolation": "linear", "equalizer": "lmmse"},
}


@dataclass(frozen=True)
class DemoSettings:
    """How much to simulate. ``quick`` is a seconds-long smoke run."""

    esno_db: tuple[float, ...] = tuple(float(x) for x in range(0, 32, 2))
    awgn_max_esno_db: float = 24.0  # AWGN BER is far below 1e-5 beyond this
    max_bits: int = 5_000_000
    min_bit_errors: int = 2_000
    max_rel_stderr: Optional[float] = 0.05
    batch_size: int = 256
    seed: int = 1
    device: Optional[str] = None

    @classmethod
    def quick(cls, **kw) -> "DemoSettings":
        return cls(esno_db=(0.0, 10.0, 20.0), awgn_max_esno_db=20.0, max_bits=20_000, min_bit_errors=100,
                   max_rel_stderr=None, batch_size=8, **kw)


def _configs() -> dict[tuple[str, str], PhyConfig]:
    return {
        (ch, rx): PhyConfig(modulation="16qam", channel=ch_cfg, receiver=rx_cfg)
        for ch, ch_cfg in CHANNELS.items()
        for rx, rx_cfg in RECEIVERS.items()
    }


def _write_csv(path: Path, curves: dict[tuple[str, str], BERCurve]) -> None:
    with path.open("w", newline="") as f:
        writer = None
        for (ch, rx), curve in curves.items():
            cols = curve.as_dict()
            for i in range(len(curve.esno_db)):
                row = {"channel": ch, "csi": rx, **{k: float(v[i]) for k, v in cols.items()}}
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)


def plot_ber(curves: dict[tuple[str, str], BERCurve], path_stem: Path) -> list[Path]:
    """BER vs Es/N0, one colour per channel, solid perfect / dashed LS CSI,
    dotted closed form. Writes ``path_stem.png`` and ``path_stem.pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(CHANNELS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    styles = dict(zip(RECEIVERS, ("-", "--"), strict=True))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    snr_fine = np.linspace(0, 30, 301)
    ax.semilogy(snr_fine, ber_awgn(snr_fine, 4), ":", color=colours["AWGN"], lw=1.2, label="AWGN, closed form")
    ax.semilogy(snr_fine, ber_rayleigh(snr_fine, 4), ":", color=colours["Rayleigh"], lw=1.2,
                label="Rayleigh, closed form")
    for (ch, rx), curve in curves.items():
        ok = curve.bit_errors > 0
        ax.semilogy(curve.esno_db[ok], curve.ber[ok], styles[rx], marker="o", ms=3.5,
                    color=colours[ch], label=f"{ch}, {rx}")
    ax.set_xlabel(r"$E_s/N_0$ per resource element [dB]")
    ax.set_ylabel("Bit error rate (uncoded)")
    ax.set_title("16-QAM over OFDM (14 x 76 slot, pilots on symbols 2 and 11)", fontsize=10)
    ax.set_ylim(1e-5, 1)
    ax.set_xlim(0, 30)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7.5, ncol=2, loc="lower left")
    fig.tight_layout()
    written = []
    for suffix in (".png", ".pdf"):
        out = path_stem.with_suffix(suffix)
        fig.savefig(out, dpi=150)
        written.append(out)
    plt.close(fig)
    return written


def run_demo(output: Path, settings: DemoSettings = DemoSettings(), progress: bool = True) -> dict:
    """Run the study and write data and figures to ``output``.

    :output summary: ``{"files": [...], "runtime_s": ..., "curves": {...}}``.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    set_seed(settings.seed)
    t0 = time.perf_counter()
    curves: dict[tuple[str, str], BERCurve] = {}
    configs = _configs()
    for i, (key, cfg) in enumerate(configs.items(), 1):
        link = OFDMLink(cfg, device=settings.device)
        esno_db = [x for x in settings.esno_db if cfg.channel.model != "awgn" or x <= settings.awgn_max_esno_db]
        curves[key] = simulate_ber(link, esno_db, batch_size=settings.batch_size,
                                   max_bits=settings.max_bits, min_bit_errors=settings.min_bit_errors,
                                   max_rel_stderr=settings.max_rel_stderr)
        if progress:
            c = curves[key]
            print(f"[{i}/{len(configs)}] {key[0]:8s} {key[1]:11s} "
                  f"{int(c.num_bits.sum()):>10,d} bits  {c.runtime_s:5.1f} s  "
                  f"BER@{c.esno_db[len(c.esno_db) // 2]:.0f}dB={c.ber[len(c.esno_db) // 2]:.2e}", flush=True)
    runtime = time.perf_counter() - t0

    csv_path = output / "ber_vs_snr.csv"
    _write_csv(csv_path, curves)
    figures = plot_ber(curves, output / "ber_vs_snr")
    run_info = {
        "study": "uncoded 16-QAM BER vs Es/N0 per RE",
        "seed": settings.seed,
        "settings": asdict(settings),
        "curves": [
            {"channel": ch, "csi": rx, "config": configs[(ch, rx)].model_dump(mode="json"),
             "metadata": curves[(ch, rx)].metadata}
            for ch, rx in curves
        ],
        "runtime_s": runtime,
        "versions": software_versions(),
        "git_commit": git_commit(),
    }
    json_path = output / "run.json"
    json_path.write_text(json.dumps(run_info, indent=2, default=list))
    return {"files": [csv_path, json_path, *figures], "runtime_s": runtime, "curves": curves}
