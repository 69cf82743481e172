"""What the demo says when it runs on stand-ins (offline): the terminal and the report agree."""

from __future__ import annotations

from pathlib import Path

from featx.cli.demo import DemoResult, _Clock, _intro, imagenet_weights


def test_offline_intro_says_what_was_really_used():
    offline = " ".join(_intro(False, True, "RANDOM-XCEPTION-2048", "synthetic normal tissue",
                              "finetune_tiles", False, 24))
    assert "CMU-1-Small-Region was not available" in offline
    assert "seeded random weights" in offline and "ImageNet Xception weights)" not in offline
    assert "tiles of the generated slides" in offline
    online = " ".join(_intro(True, False, "IMGNET-2048", "target.png", "kather", True, 36))
    assert "OpenSlide's CMU-1-Small-Region slide" in online and "random" not in online


def test_notes_reach_the_terminal_once_as_they_arise(monkeypatch, tmp_path):
    from featx.errors import DataNotFoundError

    def no_weights():
        raise DataNotFoundError("ImageNet Xception weights", "Set $FEATX_XCEPTION_WEIGHTS.")

    import featx.extractors

    monkeypatch.setattr(featx.extractors, "resolve_xception_weights", no_weights)
    lines: list[str] = []
    result = DemoResult(Path(tmp_path), Path(tmp_path) / "r.html")
    clock = _Clock(result, lines.append)
    assert imagenet_weights(result.notes) == "random"
    clock.notes()
    clock.notes()
    assert len(lines) == 1 and lines[0].startswith("note: ") and "random weights" in lines[0]
