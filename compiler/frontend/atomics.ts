// Atomics on integer places shared with userspace or other programs: read-modify-write (atomicAdd/And/Or/Xor
// and their Fetch forms), exchange, compare-and-exchange, and load-acquire/store-release. A place is a
// global, a field or element of the MEM region, or a field of a map value or ring-buffer record; its
// address and type come from the same layouts plain loads and stores use. Each lowers to one BPF_ATOMIC
// instruction (IR `call` of kind "atomic": the address in r1, operands in r2/r3, a result in r0).

import { Node, type CallExpression, type Expression } from "ts-morph";
import { AtomicOp, type SizeName } from "../bpf/insn";
import type { VReg } from "../ir/ir";
import type { LowerContext, Value } from "./context";
import { convert, normalizeLoaded, sizeOf } from "./values";
import { arrayElement, arrayOf } from "./ringapi";
import { T, typeName, widthOf, type BoolType, type IntType, type ViewOrigin } from "./types";

type Form = "rmw" | "fetch" | "xchg" | "cmpxchg" | "load" | "store";

/** The atomic builtins by exported name: the BPF_ATOMIC operation and the shape of the call. */
export const ATOMICS: Record<string, { imm: number; form: Form; doc: string }> = Object.setPrototypeOf({
  atomicAdd: { imm: AtomicOp.ADD, form: "rmw", doc: "place += value, atomically" },
  atomicAnd: { imm: AtomicOp.AND, form: "rmw", doc: "place &= value, atomically" },
  atomicOr: { imm: AtomicOp.OR, form: "rmw", doc: "place |= value, atomically" },
  atomicXor: { imm: AtomicOp.XOR, form: "rmw", doc: "place ^= value, atomically" },
  atomicFetchAdd: { imm: AtomicOp.ADD | AtomicOp.FETCH, form: "fetch", doc: "place += value, atomically; returns the old value" },
  atomicFetchAnd: { imm: AtomicOp.AND | AtomicOp.FETCH, form: "fetch", doc: "place &= value, atomically; returns the old value" },
  atomicFetchOr: { imm: AtomicOp.OR | AtomicOp.FETCH, form: "fetch", doc: "place |= value, atomically; returns the old value" },
  atomicFetchXor: { imm: AtomicOp.XOR | AtomicOp.FETCH, form: "fetch", doc: "place ^= value, atomically; returns the old value" },
  atomicXchg: { imm: AtomicOp.XCHG, form: "xchg", doc: "stores value; returns the old value, atomically" },
  atomicCmpXchg: { imm: AtomicOp.CMPXCHG, form: "cmpxchg", doc: "stores value if the place holds expected; returns the old value, atomically" },
  loadAcquire: { imm: AtomicOp.LOAD_ACQ, form: "load", doc: "reads the place; later accesses are not reordered before it" },
  storeRelease: { imm: AtomicOp.STORE_REL, form: "store", doc: "writes the place; earlier accesses are not reordered after it" },
}, null);

/** Where an atomic place lives: the verifier's rules differ by region. */
export type PlaceRegion = "global" | "mem" | "map" | "record";

/** An integer place: its address as base + off, its type and region. */
export interface Place {
  base: VReg;
  off: number;
  type: IntType | BoolType;
  region: PlaceRegion;
}

function regionOf(origin: ViewOrigin | undefined): PlaceRegion {
  if (origin === undefined || origin === "mem") return "mem";
  return origin.kind === "record" ? "record" : "map";
}

/** Resolve an expression naming an integer place (not a value: `x`, `p.count`, `p.slots[i]`, `v.value`). */
export function placeOf(cx: LowerContext, e: Expression, what: string): Place {
  while (Node.isParenthesizedExpression(e) || Node.isNonNullExpression(e)) e = e.getExpression();
  if (Node.isIdentifier(e)) {
    const bnd = cx.resolve(e);
    if (bnd?.kind === "global") {
      const g = bnd.global;
      if (g.section === ".rodata")
        cx.fail(e, 2053, `${g.name} is a config value: .rodata is frozen at load, the verifier refuses writes to it`, what === "loadAcquire()" ? "a config value never changes once loaded: read it directly" : "keep the value in a `let` global (.bss/.data) to update it atomically");
      return { base: cx.b.addr(g.name), off: 0, type: g.type, region: "global" };
    }
    if (bnd?.kind === "local") cx.fail(e, 2051, `${e.getText()} is a local variable`, `${what} works on memory others can see: a global, a MEM-region field or a map value field`);
    cx.fail(e, 2051, `${e.getText()} is not a global variable`);
  }
  if (Node.isPropertyAccessExpression(e)) {
    const recv = cx.lower.expr(cx, e.getExpression());
    const name = e.getName();
    if (recv.type.kind !== "view" || recv.type.view !== "struct" || !recv.type.layout)
      return cx.fail(e, 2051, `${e.getText()} is not in the MEM region, a map value or a record`, `${what} works on globals, MEM-region fields and map value fields`);
    const f = recv.type.layout.fields.get(name);
    if (!f) return cx.fail(e.getNameNode(), 2002, `'${name}' is not a field of ${typeName(recv.type)}`);
    if (f.slot.kind !== "scalar") return cx.fail(e, 2051, `${name} is a ${f.slot.kind === "array" ? "FixedArray" : "struct"}`, "name one integer field or element");
    return { base: (recv.op as { reg: VReg }).reg, off: f.off, type: f.slot.type, region: regionOf(recv.type.origin) };
  }
  if (Node.isElementAccessExpression(e)) {
    const { base, arr, index, origin } = arrayOf(cx, e);
    if (arr.elem.kind !== "scalar") return cx.fail(e, 2051, "an element of an array of structs", "name one integer field of the element");
    const el = arrayElement(cx, base, arr, index);
    return { base: el.ptr, off: el.off, type: arr.elem.type, region: regionOf(origin) };
  }
  return cx.fail(e, 2051, e.getText(), `${what} needs a place such as a global, p.count or p.slots[i]`);
}

/** Lower a call of one of ATOMICS. */
export function lowerAtomicCall(cx: LowerContext, e: CallExpression, name: string, args: Expression[]): Value {
  const spec = ATOMICS[name];
  const want = spec.form === "load" ? 1 : spec.form === "cmpxchg" ? 3 : 2;
  if (args.length !== want) cx.fail(e, 2017, `${name}() takes ${want === 1 ? "a place" : want === 2 ? "a place and a value" : "a place, the expected value and the new value"}`);
  const place = placeOf(cx, args[0], `${name}()`);
  if (place.type.kind !== "int") return cx.fail(args[0], 2051, `${args[0].getText()} is ${typeName(place.type)}`, "atomics work on integer places (u8..u64, i8..i64)");
  const t = place.type;
  const rmw = spec.form !== "load" && spec.form !== "store";
  if (rmw && t.bits < 32) cx.fail(args[0], 2052, `${args[0].getText()} is ${t.name}`, "BPF's read-modify-write atomics are 32 or 64 bits wide: make the field u32/i32/u64/i64");
  const operands = args.slice(1).map((a) => convert(cx, a, cx.lower.expr(cx, a), t).op);
  const size: SizeName = sizeOf(t);
  const returns = spec.form !== "rmw" && spec.form !== "store";
  const dst = returns ? cx.b.vreg(widthOf(t), name) : undefined;
  cx.b.emit({ op: "call", kind: "atomic", name, atomic: { imm: spec.imm, size, off: place.off }, args: [{ reg: place.base }, ...operands], dst });
  if (!dst) return { type: T.void, op: { imm: 0n } };
  return normalizeLoaded(cx, { type: t, op: { reg: dst } });
}
