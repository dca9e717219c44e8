"""GAN compression by distillation: channel-fraction students, SDAKD, NICKEL & DiME, output KD, cost reports
and ONNX/TorchScript export. See docs/compression.md."""

from ganforge.compress.config import CompressConfig, KDConfig, NickelDimeConfig, SDAKDConfig, SupConfig
from ganforge.compress.embeddings import Embedder, EmbeddingUnavailableError, build_embedder, load_clip, load_dino
from ganforge.compress.export import export_onnx, export_torchscript, max_abs_difference, run_onnx
from ganforge.compress.mlp_distill import FeatureMLP, mlp_distill_loss
from ganforge.compress.nickel_dime import NickelProjector, dime_global_loss, dime_paired_loss, nickel_loss
from ganforge.compress.profile import analytic_macs, count_macs, count_params, measure_latency, profile_generator
from ganforge.compress.report import build_report, format_report
from ganforge.compress.runner import CompressRunner, load_teacher
from ganforge.compress.sdakd import critic_matching, logit_agreement, logit_matching_loss
from ganforge.compress.student import make_student, student_config, teacher_channel_init
from ganforge.compress.teacher_stats import compute_teacher_stats, load_teacher_stats, teacher_stats_for
from ganforge.compress.wavelet import haar_dwt, haar_dwt_multilevel, wavelet_loss

__all__ = [
    "CompressConfig",
    "CompressRunner",
    "Embedder",
    "EmbeddingUnavailableError",
    "FeatureMLP",
    "KDConfig",
    "NickelDimeConfig",
    "NickelProjector",
    "SDAKDConfig",
    "SupConfig",
    "analytic_macs",
    "build_embedder",
    "build_report",
    "compute_teacher_stats",
    "count_macs",
    "count_params",
    "critic_matching",
    "dime_global_loss",
    "dime_paired_loss",
    "export_onnx",
    "export_torchscript",
    "format_report",
    "haar_dwt",
    "haar_dwt_multilevel",
    "load_clip",
    "load_dino",
    "load_teacher",
    "load_teacher_stats",
    "logit_agreement",
    "logit_matching_loss",
    "make_student",
    "max_abs_difference",
    "measure_latency",
    "mlp_distill_loss",
    "nickel_loss",
    "profile_generator",
    "run_onnx",
    "student_config",
    "teacher_channel_init",
    "teacher_stats_for",
    "wavelet_loss",
]
