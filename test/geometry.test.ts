// The ring-geometry contract is one table (compiler/contract/geometry.ts): the compiler's hidden globals,
// the engine's values and the native loader's generated header (runtime/loader/geometry.h) all come from
// it; `scripts/gen-geometry.ts --check` fails when the header is out of date.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { GEOMETRY, geometryHeader, geometryValues } from "../compiler/contract/geometry";
import { RING_GLOBALS, RING_GLOBAL_DEFAULTS } from "../compiler/frontend/ring";

const root = path.join(__dirname, "..");

describe("the ring-geometry table", () => {
  it("the loader's header is the generated one, and --check says so", () => {
    expect(fs.readFileSync(path.join(root, "runtime", "loader", "geometry.h"), "utf8")).toBe(geometryHeader());
    const ok = spawnSync("npx", ["tsx", "scripts/gen-geometry.ts", "--check"], { cwd: root, encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(fs.readFileSync(path.join(root, "runtime", "loader", "loader.c"), "utf8")).toMatch(/#include "geometry.h"[\s\S]*uringbpf_geometry\(&geo, set_geometry/);
  });

  it("--check fails on a stale header", () => {
    const tmp = fs.mkdtempSync("/tmp/geo-");
    fs.mkdirSync(path.join(tmp, "scripts"));
    fs.mkdirSync(path.join(tmp, "runtime", "loader"), { recursive: true });
    fs.cpSync(path.join(root, "compiler"), path.join(tmp, "compiler"), { recursive: true });
    fs.copyFileSync(path.join(root, "scripts", "gen-geometry.ts"), path.join(tmp, "scripts", "gen-geometry.ts"));
    fs.writeFileSync(path.join(tmp, "runtime", "loader", "geometry.h"), geometryHeader().replace("uringbpf_cq_size", "uringbpf_cq_sz"));
    const r = spawnSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(tmp, "scripts", "gen-geometry.ts"), "--check"], { cwd: tmp, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("runtime/loader/geometry.h is out of date");
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("computes what io_uring_setup's parameters give, and the compiler declares the same names", () => {
    const v = geometryValues({ sq_entries: 8, cq_entries: 32, cq_off_head: 64, cq_off_tail: 128, cq_off_cqes: 320, sqe_size: 128, cqe_size: 32, mem_size: 4096, mem_uaddr: 0x7f0012345000n });
    expect(Object.fromEntries(v)).toEqual({
      uringbpf_sq_entries: 8n, uringbpf_cq_entries: 32n, uringbpf_cq_head: 64n, uringbpf_cq_tail: 128n, uringbpf_cq_cqes: 320n,
      uringbpf_cq_size: 320n + 32n * 32n, uringbpf_sq_size: 8n * 128n, uringbpf_mem_size: 4096n, uringbpf_mem_uaddr: 0x7f0012345000n,
    });
    expect(RING_GLOBALS.filter((n) => n !== "uringbpf_trap" && n !== "uringbpf_loop_zero")).toEqual(GEOMETRY.map((g) => g.name));
    expect(RING_GLOBAL_DEFAULTS.uringbpf_cq_size).toBe(64 + 16 * 16);
  });

  it("the header compiles and computes the table's values in C", () => {
    const tmp = fs.mkdtempSync("/tmp/geo-");
    fs.writeFileSync(path.join(tmp, "t.c"), `#include <stdio.h>
#include "geometry.h"
static void set(const char *n, unsigned long long v, int size, void *arg) { (void)arg; printf("%s=%llu/%d\\n", n, v, size); }
int main(void) { struct uringbpf_geometry_inputs in = { 8, 32, 64, 128, 320, 128, 32, 4096, 0x7f0012345000ULL }; uringbpf_geometry(&in, set, 0); return 0; }
`);
    execFileSync("gcc", ["-Wall", "-Werror", "-I", path.join(root, "runtime", "loader"), "-o", path.join(tmp, "t"), path.join(tmp, "t.c")]);
    const out = execFileSync(path.join(tmp, "t"), { encoding: "utf8" }).trim().split("\n");
    const v = geometryValues({ sq_entries: 8, cq_entries: 32, cq_off_head: 64, cq_off_tail: 128, cq_off_cqes: 320, sqe_size: 128, cqe_size: 32, mem_size: 4096, mem_uaddr: 0x7f0012345000n });
    expect(out).toEqual(GEOMETRY.map((g) => `${g.name}=${v.get(g.name)}/${g.size}`));
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
