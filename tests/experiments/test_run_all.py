"""experiments/run_all.py: every claim script, in order, with the shared --out and --threads."""

from __future__ import annotations

import run_all


def test_every_claim_runs_in_order_with_its_own_results_folder(capsys):
    cmds = run_all.commands("res", 2)
    scripts = [c[1].rsplit("/", 1)[-1] for c in cmds]
    assert scripts == ["sr.py", "r3gan_ablation.py", "r3gan_ablation.py", "data_efficient.py", "sd_gan.py",
                       "compression.py", "pretrained_d.py", "pretrained_d.py"]
    assert cmds[1][2:4] == ["--seeds", "0"] and cmds[6][2:4] == ["--sizes", "100"]  # a first picture early
    for cmd in cmds:
        name = cmd[1].rsplit("/", 1)[-1].removesuffix(".py")
        assert cmd[-4:] == ["--out", f"res/{name}", "--threads", "2"]
    init = cmds[4][cmds[4].index("--init-from") + 1]
    assert init.endswith("models/mnist5k-tiny-30min") and run_all.MODELS.joinpath("mnist5k-tiny-30min").is_dir()
    assert run_all.main(["--print", "--out", "res"]) == 0
    assert "experiments/sd_gan.py --init-from models/mnist5k-tiny-30min --out res/sd_gan" in capsys.readouterr().out
