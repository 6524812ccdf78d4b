// A small stand-in for Flamenco 3's job compiler, run by tests/test_farm_job_type.py.
//
//   node flamenco_harness.js describe JOB_TYPE.js            -> JOB_TYPE as JSON
//   node flamenco_harness.js compile JOB_TYPE.js SETTINGS.json -> the authored tasks as JSON
//   node flamenco_harness.js globals JOB_TYPE.js ACORN_DIR   -> names the script uses unbound
//
// It implements the documented globals a job type sees (author.Task/Command, task
// addCommand/addDependency, job.addTask, path, print, frameChunker) and nothing else, so a
// script that needs more fails here as it would on the Manager.
"use strict";
const fs = require("fs");
const vm = require("vm");

function makePath() {
    const clean = (parts) => parts.filter((p) => p !== "").join("/").replace(/\/+/g, "/");
    return {
        join: (...parts) => clean(parts.map(String)),
        dirname: (p) => p.replace(/\/[^/]*$/, "") || "/",
        basename: (p) => p.replace(/^.*\//, ""),
        stem: (p) => p.replace(/^.*\//, "").replace(/\.[^.]*$/, ""),
    };
}

function makeAuthor() {
    return {
        Task(name, type) {
            if (typeof name !== "string" || typeof type !== "string") {
                throw new Error("author.Task(name, type) takes two strings");
            }
            const task = { name, type, commands: [], dependencies: [] };
            task.addCommand = (command) => task.commands.push(command);
            task.addDependency = (other) => task.dependencies.push(other.name);
            return task;
        },
        Command(name, parameters) {
            return { name, parameters: JSON.parse(JSON.stringify(parameters)) };
        },
    };
}

function frameChunker(frames, size) {
    throw new Error("frameChunker is not used by this job type");
}

function load(file) {
    const prints = [];
    const context = vm.createContext({
        author: makeAuthor(),
        path: makePath(),
        print: (...args) => prints.push(args.map(String).join(" ")),
        frameChunker,
    });
    const source = fs.readFileSync(file, "utf8");
    const exported = vm.runInContext(
        source + "\n;({ JOB_TYPE: JOB_TYPE, compileJob: compileJob })", context, { filename: file }
    );
    return { exported, prints };
}

function compile(file, settingsFile) {
    const { exported, prints } = load(file);
    const tasks = [];
    const job = {
        name: "test-job",
        created: new Date(0),
        settings: JSON.parse(fs.readFileSync(settingsFile, "utf8")),
        addTask: (task) => tasks.push(task),
    };
    try {
        exported.compileJob(job);
    } catch (error) {
        process.stderr.write(`compileJob: ${error}\n`);
        process.exit(1);
    }
    const plain = tasks.map((t) => ({
        name: t.name, type: t.type, commands: t.commands, dependencies: t.dependencies,
    }));
    return { tasks: plain, prints };
}

// Identifiers read but bound nowhere in the script: its globals.
function freeNames(file, acornDir) {
    const acorn = require(acornDir);
    const source = fs.readFileSync(file, "utf8");
    const ast = acorn.parse(source, { ecmaVersion: 2015, sourceType: "script" });
    const declared = new Set();
    const used = new Set();
    const bind = (pattern) => {
        if (!pattern) return;
        if (pattern.type === "Identifier") declared.add(pattern.name);
        else if (pattern.type === "ObjectPattern") pattern.properties.forEach((p) => bind(p.value));
        else if (pattern.type === "ArrayPattern") pattern.elements.forEach(bind);
        else if (pattern.type === "RestElement") bind(pattern.argument);
        else if (pattern.type === "AssignmentPattern") bind(pattern.left);
    };
    const visit = (node, parent, key) => {
        if (!node || typeof node.type !== "string") return;
        if (node.type === "VariableDeclarator") bind(node.id);
        if (/Function/.test(node.type)) {
            if (node.id) declared.add(node.id.name);
            node.params.forEach(bind);
        }
        if (node.type === "CatchClause") bind(node.param);
        if (node.type === "Identifier") {
            const isProperty = parent && (
                (parent.type === "MemberExpression" && key === "property" && !parent.computed) ||
                (parent.type === "Property" && key === "key" && !parent.computed));
            if (!isProperty) used.add(node.name);
        }
        for (const k of Object.keys(node)) {
            const value = node[k];
            if (Array.isArray(value)) value.forEach((child) => visit(child, node, k));
            else if (value && typeof value.type === "string") visit(value, node, k);
        }
    };
    visit(ast, null, null);
    return [...used].filter((name) => !declared.has(name)).sort();
}

const [command, file, extra] = process.argv.slice(2);
let result;
if (command === "describe") result = load(file).exported.JOB_TYPE;
else if (command === "compile") result = compile(file, extra);
else if (command === "globals") result = freeNames(file, extra);
else throw new Error(`unknown command ${command}`);
process.stdout.write(JSON.stringify(result) + "\n");
