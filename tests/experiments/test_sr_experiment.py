"""experiments/sr.py end to end at toy sizes (an 8-wide x4 teacher on 24 px crops, a few steps per run): every arm
gets a finished run with finite PSNR / SSIM / cost numbers, a rerun skips the finished runs, crops.png is drawn,
and the results page shows the section with its figure."""

from __future__ import annotations

import json
import math

import common
import make_results_page as page
import pytest
import sr
import torch
from aggregate import Stat
from PIL import Image

TOY = ("sr.net.num_feat=8 sr.net.num_conv=1 sr.disc.num_feat=8 sr.crop=24 batch_size=2 sr.pool_size=0 "
       "sr.eval_pairs=2 metrics=[] snapshot_every_kimg=1 log_every_kimg=1")


def run(out, seeds: str, *extra: str) -> int:
    """experiments/sr.py at toy sizes, in-process."""
    argv = ["--out", str(out), "--seeds", seeds, "--fractions", "0.5", "--teacher-overrides", TOY,
            "--esrnet-kimg", "0.004", "--teacher-kimg", "0.004", "--student-esrnet-kimg", "0.004",
            "--budget", "0.004", "--eval-pairs", "2",
            "--eval-crop", "32", "--crop-rows", "2", "--latency-rounds", "1", "--threads", "1", "--fid-patch", "16",
            "--fid-size", "32", *extra]
    return sr.main(sr.make, sr.NAME, sr.__doc__, argv=argv, add_args=sr.add_args)


def test_sr_experiment_runs_every_arm_resumes_and_draws_crops(tmp_path, capsys):
    out = tmp_path / "results" / "sr"
    assert run(out, "0", "--arms", "teacher-esrnet,teacher,esrnet-c0.5,naive-c0.5") == 0
    before = common.load_record(out)["runs"]
    assert sorted(before) == ["esrnet-c0.5/s0", "naive-c0.5/s0", "teacher-esrnet/s0", "teacher/s0"]

    capsys.readouterr()
    assert run(out, "0,1") == 0
    printed = capsys.readouterr().out
    for key in before:
        assert f"[{key}] finished earlier; skipped" in printed
    record = common.load_record(out)
    for key, rec in before.items():
        assert record["runs"][key] == rec  # untouched by the rerun
    arms = ["teacher-esrnet", "teacher", "esrnet-c0.5", "naive-c0.5", "kd-c0.5", "sdakd-c0.5"]
    assert list(record["arms"]) == arms
    expected = {"teacher-esrnet/s0", "teacher/s0", *(f"{a}/s{s}" for a in arms[2:] for s in (0, 1))}
    assert set(record["runs"]) == expected  # the teacher runs one seed whatever --seeds says
    for key, rec in record["runs"].items():
        assert rec["status"] == "done" and rec["post_eval_done"], key
        final = rec["final"]
        for name in ("psnr", "ssim", "params", "macs@lr100", "latency_ms@lr100", "speedup@lr100", "speedup@lr32"):
            assert math.isfinite(final[name]) and final[name] > 0, (key, name)
        # LPIPS is a number when its weights are installed, else recorded as skipped with the reason
        assert ("lpips" in final and math.isfinite(final["lpips"])) != ("lpips_skipped" in final), key
        # so is the FID on crops (VGG16 features, from the same offline weights)
        assert ("fid_crops@vgg16" in final and final["fid_crops@vgg16"] >= 0) != ("fid_crops_skipped" in final), key
    teacher, student = record["runs"]["teacher/s0"]["final"], record["runs"]["sdakd-c0.5/s0"]["final"]
    assert teacher["speedup@lr100"] == 1.0 and teacher["params_ratio"] == 1.0
    assert student["params"] < teacher["params"] and student["macs@lr100"] < teacher["macs@lr100"]
    assert record["runs"]["kd-c0.5/s1"]["kind"] == "compress" and record["runs"]["naive-c0.5/s1"]["kind"] == "train"
    for arm in arms[3:]:  # every method starts from its seed's own student ESRNet stage
        cfg = json.loads((out / record["runs"][f"{arm}/s1"]["checkpoint"] / "config.json").read_text())
        assert cfg["init_from"] == str(out / "train" / "esrnet-c0.5-s1"), arm
    config = json.loads((out / record["runs"]["naive-c0.5/s1"]["checkpoint"] / "config.json").read_text())
    assert config["sr"]["net"]["num_feat"] == 4 and config["sr"]["disc"]["num_feat"] == 4 and config["seed"] == 1
    teacher_cfg = json.loads((out / record["runs"]["teacher/s0"]["checkpoint"] / "config.json").read_text())
    assert config["sr"]["degradation"] == teacher_cfg["sr"]["degradation"] == "bicubic"  # --degradation's default
    for key in ("psnr", "ssim"):  # the floor, on the teacher arms only
        assert math.isfinite(teacher[f"bicubic_{key}"]) and f"bicubic_{key}" not in student

    crops = Image.open(out / "crops.png")
    columns = 2 + 4 + 1  # LR, bicubic, teacher and the three students (not the ESRNet stages), HR
    assert crops.width == columns * (32 + 2) + 2 and crops.height == 2 * (32 + 2) + 2 + 14

    text = page.build_page(tmp_path / "results", tmp_path / "docs" / "results.md", claims=("sr",))
    section = text.split(f"## {sr.TITLE}")[1]
    assert "](results/sr/crops.png)" in section and (tmp_path / "docs" / "results" / "sr" / "crops.png").is_file()
    assert "| SDAKD beats the naive student at C = 0.5 (PSNR) | `psnr` |" in section
    assert "C = 0.5: CPU speed-up over the teacher at 100x100 LR inputs" in section
    assert "The teacher against bicubic upsampling of the same held-out pairs: PSNR " in section
    assert "| SDAKD beats the naive student at C = 0.5 (FID on crops) | `fid_crops` |" in section

    naive = record["runs"]["naive-c0.5/s0"]
    capsys.readouterr()
    assert run(out, "0", "--arms", "naive-c0.5", "--redo-post-eval", "--fid-patch", "8") == 0  # no training
    redone = common.load_record(out)["runs"]["naive-c0.5/s0"]
    assert "--redo-post-eval" not in common.load_record(out)["command"]  # the page shows how to make the results
    assert "finished earlier" not in capsys.readouterr().out and redone["status"] == "done" and redone["post_eval_done"]
    assert redone["train_s"] == naive["train_s"] and redone["sessions"] == naive["sessions"] + 1
    assert redone["final"]["psnr"] == naive["final"]["psnr"] and redone["checkpoint"] == naive["checkpoint"]
    if "fid_crops@vgg16" in naive["final"]:  # 8 px crops instead of 16: another FID
        assert redone["final"]["fid_crops@vgg16"] != naive["final"]["fid_crops@vgg16"]


def test_a_signal_stops_the_experiment_and_the_rerun_continues_the_run(tmp_path, monkeypatch, capsys):
    from ganforge.training.trainer import Trainer

    out = tmp_path / "sr"
    with monkeypatch.context() as m:  # what SIGINT/SIGTERM do: the trainer checkpoints and returns early
        m.setattr(Trainer, "should_stop", lambda self: self.cur_nimg >= 2)
        assert run(out, "0", "--arms", "teacher-esrnet,teacher") == 130
    assert "teacher-esrnet-s0 stopped at 0.002 of 0.004 kimg; rerun the same command" in capsys.readouterr().out
    runs = common.load_record(out)["runs"]
    assert runs["teacher-esrnet/s0"]["status"] == "stopped" and "teacher/s0" not in runs  # not recorded as done
    assert run(out, "0", "--arms", "teacher-esrnet,teacher") == 0
    runs = common.load_record(out)["runs"]
    assert runs["teacher-esrnet/s0"]["status"] == "done" and "--resume" in runs["teacher-esrnet/s0"]["train_command"]
    assert runs["teacher/s0"]["status"] == "done"


@pytest.mark.parametrize(("bad", "message"), [("sr.net.num_feet=8", "unknown config key 'sr.net.num_feet'"),
                                              ("sr.crop=15", "not a multiple of sr.net.scale")])
def test_sr_experiment_refuses_a_bad_teacher_override(bad, message):
    import argparse

    p = argparse.ArgumentParser()
    sr.add_args(p)
    args = p.parse_args(["--teacher-overrides", bad])
    args.out = "unused"
    with pytest.raises(SystemExit, match=f"--teacher-overrides: .*{message}"):
        sr.make(args)


def test_crops_spread_over_the_more_detailed_half_in_held_out_order():
    order = [3, 0, 6, 1, 7, 2, 5, 4]  # crop i has the order[i]-th least detail; crop 1 is flat (plain sky)
    hr = torch.stack([0.5 + 0.05 * r * (torch.rand(3, 16, 16) - 0.5) for r in order])
    ranked = sorted(range(8), key=order.__getitem__)
    assert sr.detailed(hr, 2).tolist() == sorted([ranked[4], ranked[7]])  # the middle and the most detailed
    assert sr.detailed(hr, 4).tolist() == sorted(ranked[4:])
    assert sr.detailed(hr, 8).tolist() == list(range(8)) and 1 not in sr.detailed(hr, 4).tolist()


def test_run_notes_name_the_runs_below_bicubic_psnr():
    def run(arm, seed, psnr, status="done", **final):
        return {"arm": arm, "seed": seed, "status": status, "post_eval_done": True, "final": {"psnr": psnr, **final}}

    runs = {"teacher/s0": run("teacher", 0, 31.0, bicubic_psnr=29.45), "naive-c0.125/s0": run("naive-c0.125", 0, 29.9),
            "naive-c0.125/s2": run("naive-c0.125", 2, 27.83), "kd-c0.125/s2": run("kd-c0.125", 2, 28.1, "running")}
    assert sr.run_notes({"runs": runs}) == ["Runs below bicubic upsampling's PSNR (29.45): naive-c0.125/s2 (27.83)."]
    runs["naive-c0.125/s2"]["final"]["psnr"] = 29.5
    assert sr.run_notes({"runs": runs}) == []
    assert sr.run_notes({"runs": {k: v for k, v in runs.items() if k != "teacher/s0"}}) == []  # no floor yet


def test_page_notes_put_the_bicubic_floor_beside_the_teacher_for_every_score():
    one = {k: Stat(v, 0.0, 1) for k, v in {"psnr": 30.96, "bicubic_psnr": 29.45, "lpips": 0.1537,
                                           "bicubic_lpips": 0.3199, "fid_crops@vgg16": 50.71,
                                           "bicubic_fid_crops@vgg16": 145.3, "ssim": 0.79}.items()}
    assert sr.page_notes({"teacher": one})[0] == ("The teacher against bicubic upsampling of the same held-out pairs: "
                                                  "PSNR 30.96 against 29.45, LPIPS 0.1537 against 0.3199, "
                                                  "FID on crops (vgg16) 50.71 against 145.3.")
    assert "Inception features of whole test images, ours (fid_crops@vgg16)" in sr.page_notes({"teacher": one})[1]
