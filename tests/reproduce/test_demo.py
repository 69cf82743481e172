"""The demo's stages and what it says when it runs on stand-ins (offline).

The whole demo runs in tests/cli/test_demo.py (slow); these check its parts.
"""

from __future__ import annotations

from featx.reproduce.demo import Notes, _intro, imagenet_weights, slide_layouts, write_slides


def test_offline_intro_says_what_was_really_used():
    offline = " ".join(_intro(False, True, "RANDOM-XCEPTION-2048", "synthetic normal tissue",
                              "finetune_tiles", False, 24))
    assert "CMU-1-Small-Region was not available" in offline
    assert "seeded random weights" in offline and "ImageNet Xception weights)" not in offline
    assert "tiles of the generated slides" in offline
    online = " ".join(_intro(True, False, "IMGNET-2048", "target.png", "kather", True, 36))
    assert "OpenSlide's CMU-1-Small-Region slide" in online and "random" not in online


def test_notes_reach_the_terminal_once_as_they_arise(monkeypatch):
    from featx.errors import DataNotFoundError

    def no_weights():
        raise DataNotFoundError("ImageNet Xception weights", "Set $FEATX_XCEPTION_WEIGHTS.")

    import featx.extractors

    monkeypatch.setattr(featx.extractors, "resolve_xception_weights", no_weights)
    lines: list[str] = []
    notes = Notes(lines.append)
    assert imagenet_weights(notes) == "random"
    assert len(lines) == 1 and lines[0].startswith("note: ") and "random weights" in lines[0]
    assert list(notes) == [lines[0].removeprefix("note: ")]


def test_slide_layouts_are_the_same_every_run_and_half_have_tumour(tmp_path):
    """A rerun skips the slides stage, so the layouts (the labels' truth) must not depend on it."""
    first, again = slide_layouts(tmp_path, 4), slide_layouts(tmp_path, 4)
    assert first == again
    tumour = [any(r.label == "tumour" for r in s.regions) for s in first.values()]
    assert tumour == [True, False, True, False]
    small = {k: s for k, s in list(first.items())[:1]}
    assert "1 generated slides" in write_slides(small)
    from featx.wsi import open_slide

    with open_slide(small["DEMO-01"].path) as slide:
        assert slide.info.width == small["DEMO-01"].width_px and slide.slide_mpp == 0.5
