"""Deforum's own 3D warp: the engine's motion preview against Deforum's formula, written again.

The reference below re-implements sd-webui-deforum's ``transform_image_3d_new`` the way it
is written there: pytorch3d-style 4×4 homogeneous transforms with row vectors, the rotation
from scipy's intrinsic "XYZ" Euler angles, ``affine_grid`` and ``grid_sample`` in torch,
and Deforum's depth normalisation with ``torch.histc``. The engine computes the same warp
with its own maps and ``cv2.remap`` on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from deforum_blender.core.errors import DeforumInputError
from deforum_blender.core.job import Job
from deforum_blender.core.output_layout import frame_files, frame_path
from deforum_blender.core.overrides import apply_overrides
from deforum_blender.engine import deforum_warp as dw
from deforum_blender.engine.frames import read_frame
from deforum_blender.engine.motion import FrameWarper, job_camera_track
from deforum_blender.engine.render import render
from tests.helpers import run_python


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    # Smooth random colours: the two bicubic implementations differ only slightly there.
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _inverse_depth(height: int, width: int) -> np.ndarray:
    """A depth model's kind of output: a near blob in front of a receding floor."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    floor = 0.5 + 2.0 * rows / height
    blob = 3.0 * np.exp(
        -(
            ((columns - 0.3 * width) / (0.15 * width)) ** 2
            + ((rows - 0.4 * height) / (0.2 * height)) ** 2
        )
    )
    return (floor + blob).astype(np.float32)


def _reference_depth(prediction: np.ndarray) -> torch.Tensor:
    """Deforum's normalisation of an inverse-depth prediction: z = 2 − equalised."""
    d = torch.from_numpy(prediction.astype(np.float64))
    unit = (d - d.min()) / (d.max() - d.min())
    counts = torch.histc(unit, bins=1024, min=0.0, max=1.0)
    cdf = torch.cumsum(counts, 0) / unit.numel()
    edges = torch.linspace(0.0, 1.0, 1025, dtype=torch.float64)[:-1]
    # np.interp between consecutive bin edges, written out.
    position = torch.clamp(unit * 1024, 0, 1023)
    low = torch.clamp(position.floor().long(), 0, 1022)
    frac = (unit - edges[low]) / (edges[low + 1] - edges[low])
    equalised = torch.where(
        unit >= edges[-1], cdf[-1], cdf[low] + frac.clamp(0, 1) * (cdf[low + 1] - cdf[low])
    )
    return 2.0 - equalised


def _reference_warp(
    image: np.ndarray,
    z: torch.Tensor,
    motion: dict[str, float],
    *,
    fov: float,
    aspect: float,
    sampling: str = "bicubic",
    padding: str = "border",
) -> np.ndarray:
    """sd-webui-deforum's anim_frame_warp_3d + transform_image_3d_new, rounding at the end."""
    height, width = image.shape[:2]
    rotation = Rotation.from_euler(
        "XYZ",
        [
            motion.get("rotation_3d_x", 0.0),
            motion.get("rotation_3d_y", 0.0),
            motion.get("rotation_3d_z", 0.0),
        ],
        degrees=True,
    ).as_matrix()
    translate = [
        -motion.get("translation_x", 0.0) / 200.0,
        motion.get("translation_y", 0.0) / 200.0,
        -motion.get("translation_z", 0.0) / 200.0,
    ]
    near, far = 200.0, 10000.0
    top = math.tan(math.radians(fov) / 2.0) * near
    right = top * aspect
    k = torch.zeros(4, 4, dtype=torch.float64)
    k[0, 0], k[1, 1] = 2.0 * near / (2 * right), 2.0 * near / (2 * top)
    k[2, 2], k[2, 3], k[3, 2] = far / (far - near), -far * near / (far - near), 1.0

    def world_to_view(r: np.ndarray, t: list[float]) -> torch.Tensor:
        m = torch.eye(4, dtype=torch.float64)
        m[:3, :3] = torch.from_numpy(np.asarray(r, dtype=np.float64))
        m[3, :3] = torch.tensor(t, dtype=torch.float64)
        return m

    def project(points: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        homogeneous = torch.cat([points, torch.ones(points.shape[0], 1, dtype=points.dtype)], 1)
        out = homogeneous @ view @ k.T
        return out[:, :2] / out[:, 3:4]

    y, x = torch.meshgrid(
        torch.linspace(-1.0, 1.0, height, dtype=torch.float64),
        torch.linspace(-1.0, 1.0, width, dtype=torch.float64),
        indexing="ij",
    )
    cloud = torch.stack((x.flatten(), y.flatten(), z.flatten()), dim=1)
    offset = project(cloud, world_to_view(rotation, translate)) - project(
        cloud, world_to_view(np.eye(3), [0.0, 0.0, 0.0])
    )
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)[None]
    grid = torch.nn.functional.affine_grid(identity, [1, 1, height, width], align_corners=False)
    grid = grid - offset.reshape(height, width, 2)[None]
    tensor = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    out = torch.nn.functional.grid_sample(
        tensor, grid, mode=sampling, padding_mode=padding, align_corners=False
    )
    return out[0].permute(1, 2, 0).clamp(0, 255).round().numpy().astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)


def _preview_job(tmp_path: Path, width: int, height: int, **settings: str) -> Job:
    """A two-frame 3D motion preview of an init image, every other stage neutral."""
    init = tmp_path / "init.png"
    Image.fromarray(_texture(height, width)).save(init)
    depth_dir = tmp_path / "depth_maps"
    depth_dir.mkdir(exist_ok=True)
    np.save(depth_dir / "depth_00001.npy", _inverse_depth(height, width))
    base = {
        "animation_mode": "3D",
        "W": str(width),
        "H": str(height),
        "max_frames": "2",
        "diffusion_cadence": "1",
        "use_init": "true",
        "init_image": str(init),
        "depth_source": "files",
        "depth_path": str(depth_dir),
        "color_coherence": "None",
        "noise_schedule": "0: (0)",
        "contrast_schedule": "0: (1)",
        "amount_schedule": "0: (0)",
        "translation_z": "0: (0)",
        "make_video": "false",
    }
    return apply_overrides(Job(), {**base, **settings})


CASES = {
    "pure translation_z": (64, 64, {"translation_z": 10.0}, 70.0, 1.0),
    "pure rotation_3d_x": (64, 64, {"rotation_3d_x": 2.0}, 70.0, 1.0),
    "mixed, 96×64, aspect 1.4": (
        96,
        64,
        {
            "translation_x": 3.0,
            "translation_y": -2.0,
            "translation_z": 6.0,
            "rotation_3d_x": 1.0,
            "rotation_3d_y": -1.5,
            "rotation_3d_z": 2.5,
        },
        55.0,
        1.4,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_motion_preview_of_a_deforum_3d_file_matches_deforums_own_warp(
    case: str, tmp_path: Path
) -> None:
    width, height, motion, fov, aspect = CASES[case]
    settings = {key: f"0: ({value})" for key, value in motion.items()}
    job = _preview_job(
        tmp_path,
        width,
        height,
        fov_schedule=f"0: ({fov})",
        aspect_ratio_schedule=f"0: ({aspect})",
        **settings,
    )
    render(job, tmp_path / "out", preview=True)
    first = read_frame(frame_path(tmp_path / "out", 1))
    second = read_frame(frame_path(tmp_path / "out", 2))
    z = _reference_depth(_inverse_depth(height, width))
    expected = _reference_warp(first, z, motion, fov=fov, aspect=aspect)
    psnr = _psnr(second, expected)
    print(f"{case}: PSNR {psnr:.1f} dB against Deforum's formula")
    assert psnr > 40.0
    # And it moved: the warp is not the identity.
    assert _psnr(second, first) < psnr - 10.0


def test_torch_path_is_deforums_grid_sample_within_rounding() -> None:
    height, width = 48, 80
    image = _texture(height, width, seed=3)
    prediction = _inverse_depth(height, width)
    motion = {"translation_x": -4.0, "translation_z": 8.0, "rotation_3d_y": 1.0}
    z = dw.deforum_depth(prediction)
    warped = dw.warp_deforum_3d(
        image,
        z,
        dw.DeforumMotion.from_schedules(-4.0, 0.0, 8.0, 0.0, 1.0, 0.0),
        fov=70.0,
        aspect=1.0,
        device="cpu",
    ).image
    from deforum_blender.engine.warp import remap_torch

    maps = dw.deforum_maps(
        z, dw.DeforumMotion.from_schedules(-4.0, 0.0, 8.0, 0.0, 1.0, 0.0), fov=70.0, aspect=1.0
    )
    through_torch = remap_torch(image, *maps, sampling="bicubic", padding="border", device="cpu")
    expected = _reference_warp(image, _reference_depth(prediction), motion, fov=70.0, aspect=1.0)
    assert np.abs(through_torch.astype(int) - expected.astype(int)).max() <= 1
    assert _psnr(warped, expected) > 40.0


def test_deforum_depth_puts_the_nearest_pixel_at_one_and_the_farthest_near_two() -> None:
    prediction = _inverse_depth(32, 32)
    z = dw.deforum_depth(prediction)
    assert z.dtype == np.float32
    nearest, farthest = (
        np.unravel_index(prediction.argmax(), z.shape),
        np.unravel_index(prediction.argmin(), z.shape),
    )
    assert z[nearest] == pytest.approx(1.0)
    # n starts at cdf[0], the share of pixels in the first bin: z just under 2.
    assert z[farthest] == pytest.approx(2.0, abs=0.05) and z[farthest] == z.max()
    np.testing.assert_allclose(z, _reference_depth(prediction).numpy(), atol=1e-5)


def test_metric_depth_maps_to_n_plus_one_the_other_way_round() -> None:
    metric = 1.0 / _inverse_depth(32, 32)
    z = dw.deforum_depth(metric, inverse=False)
    assert z[np.unravel_index(metric.argmax(), z.shape)] == pytest.approx(2.0)
    # The same scene as its inverse depth, up to the histogram's binning.
    np.testing.assert_allclose(z, dw.deforum_depth(1.0 / metric), atol=0.05)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_invalid_or_constant_depth_is_flat(bad: float) -> None:
    prediction = _inverse_depth(16, 16)
    prediction[3, 4] = bad
    assert np.all(dw.deforum_depth(prediction) == 1.0)
    assert np.all(dw.deforum_depth(np.full((16, 16), 0.7)) == 1.0)


def _marker_centre(image: np.ndarray) -> tuple[float, float]:
    rows, columns = np.nonzero(image > 0)
    weights = image[rows, columns].astype(float)
    return float(np.average(columns, weights=weights)), float(np.average(rows, weights=weights))


@pytest.mark.parametrize(
    ("motion", "direction"),
    [
        ({"translation_x": 10.0}, (-1, 0)),
        ({"translation_y": 10.0}, (0, 1)),
        ({"rotation_3d_x": 2.0}, (0, 1)),
        ({"rotation_3d_y": 2.0}, (-1, 0)),
    ],
)
def test_signs_are_deforums(motion: dict[str, float], direction: tuple[int, int]) -> None:
    image = np.zeros((64, 64), np.uint8)
    image[30:34, 30:34] = 255
    delta = dw.DeforumMotion.from_schedules(
        *(motion.get(k, 0.0) for k in ("translation_x", "translation_y", "translation_z")),
        *(motion.get(k, 0.0) for k in ("rotation_3d_x", "rotation_3d_y", "rotation_3d_z")),
    )
    out = dw.warp_deforum_3d(image, np.ones((64, 64)), delta, fov=70.0, aspect=1.0).image
    x, y = _marker_centre(out)
    moved = (x - 31.5, y - 31.5)
    assert np.sign(np.round(moved, 1)).tolist() == list(direction)


def test_translation_z_zooms_in() -> None:
    image = np.zeros((64, 64), np.uint8)
    image[10:14, 10:14] = 255
    delta = dw.DeforumMotion.from_schedules(0, 0, 20.0, 0, 0, 0)
    x, y = _marker_centre(
        dw.warp_deforum_3d(image, np.ones((64, 64)), delta, fov=70, aspect=1).image
    )
    assert x < 11.5 and y < 11.5


def test_a_span_is_the_per_frame_moves_composed_and_going_back_undoes_it() -> None:
    deltas = [
        dw.DeforumMotion.identity(),
        dw.DeforumMotion.from_schedules(1, 2, 3, 4, 5, 6),
        dw.DeforumMotion.from_schedules(-2, 1, 5, -3, 2, 1),
    ]
    forward = dw.span_motion(deltas, 0, 2)
    point = np.array([0.3, -0.2, 1.5])
    stepwise = (point @ deltas[1].rotation + deltas[1].translation) @ deltas[2].rotation + deltas[
        2
    ].translation
    np.testing.assert_allclose(point @ forward.rotation + forward.translation, stepwise)
    back = dw.span_motion(deltas, 2, 0)
    np.testing.assert_allclose(stepwise @ back.rotation + back.translation, point)
    still = dw.span_motion(deltas, 1, 1)
    assert np.array_equal(still.rotation, np.eye(3)) and not still.translation.any()


def test_rotation_matches_pytorch3d_xyz_convention() -> None:
    expected = Rotation.from_euler("XYZ", [10, -20, 30], degrees=True).as_matrix()
    np.testing.assert_allclose(dw.euler_xyz(10, -20, 30), expected, atol=1e-12)


def test_a_16_bit_png_depth_file_warps_like_the_same_npy(tmp_path: Path) -> None:
    npy_job = _preview_job(tmp_path, 64, 64, translation_z="0: (10)", rotation_3d_y="0: (1)")
    render(npy_job, tmp_path / "npy", preview=True)
    folder = Path(npy_job.depth.depth_path or "")
    prediction = _inverse_depth(64, 64)
    code = np.round((prediction - prediction.min()) / np.ptp(prediction) * 65535).astype(np.uint16)
    (folder / "depth_00001.npy").unlink()
    Image.fromarray(code).save(folder / "depth_00001.png")
    render(npy_job, tmp_path / "png", preview=True)
    a, b = read_frame(frame_path(tmp_path / "npy", 2)), read_frame(frame_path(tmp_path / "png", 2))
    assert _psnr(a, b) > 45.0


def test_a_missing_depth_file_is_refused_before_any_frame_naming_frame_path_and_fix(
    tmp_path: Path,
) -> None:
    job = _preview_job(tmp_path, 64, 64, max_frames="4", translation_z="0: (5)")
    with pytest.raises(DeforumInputError) as caught:
        render(job, tmp_path / "out", preview=True)
    message = str(caught.value)
    assert "frame(s) 2, 3" in message
    assert str(Path(job.depth.depth_path or "") / "depth_00002.png") in message
    assert "depth_path" in message and "estimated" in message
    assert frame_files(tmp_path / "out") == {}


def test_a_missing_depth_folder_is_refused_naming_it(tmp_path: Path) -> None:
    job = _preview_job(tmp_path, 64, 64)
    job = dataclasses.replace(
        job, depth=dataclasses.replace(job.depth, depth_path=str(tmp_path / "nowhere"))
    )
    with pytest.raises(DeforumInputError, match=r"nowhere.*does not exist"):
        render(job, tmp_path / "out", preview=True)


def test_jobs_with_a_blender_camera_track_keep_the_exact_reprojection(tmp_path: Path) -> None:
    job = _preview_job(tmp_path, 64, 64, translation_z="0: (10)")
    track = job_camera_track(job)
    assert track is not None
    assert FrameWarper(job, track, tmp_path).deforum
    with_track = dataclasses.replace(
        job, motion=dataclasses.replace(job.motion, camera_track=track.to_dict())
    )
    assert not FrameWarper(with_track, track, tmp_path).deforum


def test_depth_files_work_from_the_command_line_and_a_gap_is_one_clear_line(
    tmp_path: Path,
) -> None:
    settings = tmp_path / "deforum_settings.txt"
    settings.write_text(
        json.dumps(
            {
                "animation_mode": "3D",
                "W": 64,
                "H": 64,
                "max_frames": 3,
                "diffusion_cadence": 1,
                "translation_z": "0: (8)",
                "prompts": {"0": "a valley"},
            }
        ),
        encoding="utf-8",
    )
    depth_dir = tmp_path / "my depth"
    depth_dir.mkdir()
    for frame in (1, 2):
        np.save(depth_dir / f"depth_{frame:05d}.npy", _inverse_depth(64, 64))
    command = [
        "render", str(settings), "--preview", "--out", str(tmp_path / "out"),
        "--set", "depth_source=files", "--set", f"depth_path={depth_dir}",
        "--set", "make_video=false",
    ]  # fmt: skip
    done = run_python("from deforum_blender.cli import main; raise SystemExit(main())", *command)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(frame_files(tmp_path / "out")) == [1, 2, 3]
    (depth_dir / "depth_00002.npy").unlink()
    command[4] = str(tmp_path / "again")
    failed = run_python("from deforum_blender.cli import main; raise SystemExit(main())", *command)
    assert failed.returncode == 2
    last = failed.stderr.strip().splitlines()[-1]
    assert "frame(s) 2 " in last and "depth_00002.png" in last and "depth_path" in last


def test_saved_depth_maps_read_back_as_depth_files_give_the_depth_that_was_used(
    tmp_path: Path,
) -> None:
    job = _preview_job(tmp_path, 64, 64, translation_z="0: (6)", save_depth_maps="true")
    render(job, tmp_path / "out", preview=True)
    saved = tmp_path / "out" / "depth" / "depth_00002.png"
    # Frame 2's depth: frame 1's carried along by the warp, as Deforum names it.
    z1 = dw.deforum_depth(_inverse_depth(64, 64))
    carried = dw.warp_deforum_3d(
        np.zeros((64, 64), np.uint8), z1, dw.DeforumMotion.from_schedules(0, 0, 6, 0, 0, 0),
        fov=70.0, aspect=1.0,
    ).target_depth  # fmt: skip
    from deforum_blender.engine.depth import load_depth_file

    read_back = dw.deforum_depth(load_depth_file(saved, (64, 64)))
    assert np.mean(np.abs(read_back - carried)) < 0.02
    assert np.corrcoef(read_back.ravel(), carried.ravel())[0, 1] > 0.99
