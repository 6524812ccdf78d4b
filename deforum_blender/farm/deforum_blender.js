// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco 3 job type "deforum-blender": a Deforum animation of a Blender shot on a farm.
// Copy this file into the Manager's scripts/ folder (docs/farm.md). Flamenco runs it with
// its own script engine (ECMAScript 5.1 and most of 2015): no modules, require or Node.
//
// One task per segment x variant. Segments are the shot's pieces between camera cuts
// (never split: each frame starts from the one before); variants are seeds and prompt
// sets. Each task runs the add-on's headless script on the packed .blend with --frames,
// --out (a folder per segment and variant) and --resume (a requeued task continues).
// Then one frames-to-video task per variant, after all of its segments.
//
// Jobs sent by `python -m deforum_blender farm submit` set job_file instead of blendfile:
// their tasks run the standalone engine with the worker Python {deforum_python}.

const JOB_TYPE = {
    label: "Deforum Blender",
    description: "Deforum animation of the shot: a task per camera-cut segment and seed " +
        "or prompt set, then a video per variant",
    settings: [
        // The artist's choices at submission.
        { key: "render_output_root", type: "string", subtype: "dir_path", required: true,
          visible: "submission",
          description: "Folder on shared storage for the frames; the job's name is added to it" },
        { key: "make_video", type: "bool", default: true, visible: "submission",
          description: "Make a video of each variant once all of its segments are done" },
        { key: "render_script", type: "string", default: "{deforum_script}",
          visible: "submission",
          description: "scripts/render_deforum.py as the workers see it (default: the " +
              "Manager variable deforum_script)" },

        // Evaluated by Flamenco's Blender add-on from the scene at submission.
        { key: "output_root", type: "string", subtype: "dir_path", editable: false,
          eval: "str(Path(abspath(settings.render_output_root), jobname))",
          description: "Where this job's frames go: a folder per variant, in it one per segment" },
        { key: "segments", type: "string", eval: "C.scene.deforum.farm_segments",
          visible: "web",
          description: "The shot's independent pieces (A-B,C-D): it is cut where the camera switches" },
        { key: "variants", type: "string", eval: "C.scene.deforum.farm_variants",
          visible: "web",
          description: "The seeds and prompt sets to render (JSON, from the scene's Farm settings)" },
        { key: "scene", type: "string", eval: "C.scene.name", visible: "web",
          description: "The scene to render" },
        { key: "fps", type: "float", eval: "C.scene.render.fps / C.scene.render.fps_base",
          visible: "hidden" },
        { key: "blendfile", type: "string", visible: "web",
          description: "The packed .blend file to render" },

        // Set by `deforum-blender farm submit` (the standalone engine, no Blender).
        { key: "job_file", type: "string", default: "", visible: "hidden",
          description: "A Deforum job JSON on shared storage, rendered without Blender" },
    ],
};

// Workers only take the task types their configuration lists: give GPU workers this one.
const RENDER_TASK_TYPE = "deforum";
const VIDEO_TASK_TYPE = "ffmpeg";

function compileJob(job) {
    const settings = job.settings;
    const root = settings.output_root || settings.render_output_root;
    if (!root) {
        throw "render_output_root: empty; choose a folder on shared storage for the frames";
    }
    const variants = parseVariants(settings.variants);
    const engine = Boolean(settings.job_file);
    if (!engine && !settings.blendfile) {
        throw "blendfile: empty; submit from Blender with Flamenco's add-on (or set job_file)";
    }
    const pieces = engine ? [null] : parseSegments(settings.segments);
    for (const variant of variants) {
        const variantDir = path.join(root, variant.name);
        const renders = [];
        for (const piece of pieces) {
            const task = engine
                ? engineTask(settings, variant, variantDir)
                : blenderTask(settings, variant, piece, variantDir);
            job.addTask(task);
            renders.push(task);
        }
        if (settings.make_video && settings.fps > 0) {
            const video = videoTask(settings, variant, variantDir);
            for (const task of renders) {
                video.addDependency(task);
            }
            job.addTask(video);
        }
    }
}

// "1-12,13-24" as [{first: 1, last: 12}, {first: 13, last: 24}].
function parseSegments(text) {
    const pieces = [];
    const items = String(text || "").split(",");
    for (const item of items) {
        const match = /^\s*(-?\d+)\s*-\s*(-?\d+)\s*$/.exec(item);
        if (!match || Number(match[2]) < Number(match[1])) {
            throw `segments: "${text}" is not a list of frame ranges A-B,C-D; ` +
                "submit again so the scene fills it in";
        }
        pieces.push({ first: Number(match[1]), last: Number(match[2]) });
    }
    return pieces;
}

// [{"name": "seed_7", "set": ["seed=7"]}, ...]; {"error": "..."} when the scene's are wrong.
function parseVariants(text) {
    let variants;
    try {
        variants = JSON.parse(text || "[]");
    } catch (error) {
        throw `variants: not JSON (${error}); submit again so the scene fills it in`;
    }
    if (variants && variants.error) {
        throw `variants: ${variants.error}`;
    }
    if (!Array.isArray(variants) || variants.length === 0) {
        throw "variants: none; list the seeds (or a seed count) in the scene's Farm settings";
    }
    for (const variant of variants) {
        if (!/^[A-Za-z0-9_.-]+$/.test(variant.name || "") || !Array.isArray(variant.set)) {
            throw `variants: ${JSON.stringify(variant)} needs a folder-safe name and a set list`;
        }
    }
    return variants;
}

function setArguments(variant) {
    const args = [];
    for (const item of variant.set) {
        args.push("--set", item);
    }
    return args;
}

function pad(frame) {
    const text = String(Math.abs(frame));
    const zeros = text.length < 5 ? "00000".slice(text.length) : "";
    return (frame < 0 ? "-" : "") + zeros + text;
}

// One segment of one variant: the headless script with --frames, --out and --resume.
function blenderTask(settings, variant, piece, variantDir) {
    const frames = `${piece.first}-${piece.last}`;
    const out = path.join(variantDir, `part_${pad(piece.first)}-${pad(piece.last)}`);
    let args = ["-P", settings.render_script, "--"];
    if (settings.scene) {
        args = args.concat(["--scene", settings.scene]);
    }
    args = args.concat(["--frames", frames, "--out", out, "--resume"], setArguments(variant));
    const task = author.Task(`render-${variant.name}-${frames}`, RENDER_TASK_TYPE);
    task.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: [],
        blendfile: settings.blendfile,
        args: args,
    }));
    return task;
}

// A standalone job of one variant: the engine's render command in the worker Python.
function engineTask(settings, variant, variantDir) {
    const out = path.join(variantDir, "render");
    const args = ["-m", "deforum_blender", "render", settings.job_file, "--out", out, "--resume"];
    const task = author.Task(`render-${variant.name}`, RENDER_TASK_TYPE);
    task.addCommand(author.Command("exec", {
        exe: "{deforum_python}",
        args: args.concat(setArguments(variant)),
    }));
    return task;
}

// The variant's video: every segment's frames in order (the folder names sort by frame).
function videoTask(settings, variant, variantDir) {
    const task = author.Task(`video-${variant.name}`, VIDEO_TASK_TYPE);
    task.addCommand(author.Command("frames-to-video", {
        exe: "ffmpeg",
        fps: settings.fps,
        inputGlob: path.join(variantDir, "*", "frames", "frame_*.png"),
        outputFile: path.join(variantDir, `${variant.name}.mp4`),
        args: [
            "-c:v", "h264",
            "-crf", "20",
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt", "yuv420p",
            "-r", settings.fps,
            "-y",
        ],
    }));
    return task;
}
