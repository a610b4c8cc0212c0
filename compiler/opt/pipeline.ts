// The pass pipeline: the order the middle end runs its passes in, one file per pass. `ssa` comes after
// the passes that need the front end's form and `out-of-ssa` last, before register allocation; between
// them every value has one definition. `uringbpf build --emit ir --print-after NAME` shows the IR after
// the first run of a pass.

import { dumpFunction, type IrFunction } from "../ir/ir";
import { addrFold } from "./addr-fold";
import { branchSimplify } from "./branch-simplify";
import { constFold } from "./const-fold";
import { copyProp } from "./copy-prop";
import { dce } from "./dce";
import { gvn } from "./gvn";
import { jumpThread } from "./jump-thread";
import { outOfSsa } from "./out-of-ssa";
import type { Pass, PassContext } from "./pass";
import { rangeFold } from "./range-fold";
import { ssa } from "./ssa";
import { sink } from "./sink";
import { storeMerge } from "./store-merge";
import { tailMerge } from "./tail-merge";

export const PIPELINE: readonly Pass[] = [
  jumpThread,
  ssa,
  copyProp,
  constFold,
  gvn,
  copyProp,
  constFold,
  rangeFold,
  copyProp,
  branchSimplify,
  gvn,
  copyProp,
  constFold,
  addrFold,
  dce,
  branchSimplify,
  sink,
  storeMerge,
  tailMerge,
  branchSimplify,
  dce,
  outOfSsa,
];

/** The names `--print-after` accepts, in pipeline order. */
export const PASS_NAMES: readonly string[] = [...new Set(PIPELINE.map((p) => p.name))];

export interface PipelineOptions {
  /** Stop after the first run of this pass and return the IR dump then ("" for the input). */
  printAfter?: string;
  /** Called after every pass (tests check each pass keeps results; see test/opt). */
  afterPass?: (pass: Pass, fn: IrFunction) => void;
  /** Run only the first `limit` passes (then leave SSA form if they entered it): tests compare the
   *  results of every prefix of the pipeline. */
  limit?: number;
}

/** Run the pipeline on `fn` in place. Returns the dump `printAfter` asked for, if any. */
export function runPipeline(fn: IrFunction, cx: PassContext, opts: PipelineOptions = {}): string | undefined {
  let dump = opts.printAfter === "" ? dumpFunction(fn) : undefined;
  const passes = opts.limit === undefined ? PIPELINE : PIPELINE.slice(0, opts.limit);
  let inSsa = false;
  for (const p of passes) {
    p.run(fn, cx);
    if (p === ssa) inSsa = true;
    if (p === outOfSsa) inSsa = false;
    opts.afterPass?.(p, fn);
    if (dump === undefined && p.name === opts.printAfter) dump = dumpFunction(fn);
  }
  if (inSsa) outOfSsa.run(fn, cx);
  return dump;
}
