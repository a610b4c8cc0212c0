// C layout of the structs a program declares for its MEM region: TypeScript interfaces (or type aliases of
// object types) whose properties are DSL scalars, other such structs, or `FixedArray<T, N>`. Sizes,
// alignment and padding follow the C rules (natural alignment, struct alignment = largest member's), so
// userspace sees the same bytes through the BTF the object carries.

import { Node, type SourceFile, type TypeNode } from "ts-morph";
import type { LowerContext } from "./context";
import { scalarSize, type Slot, type StructLayout } from "../ir/module";
import { objectNameProblem } from "./limits";
import { scalarTypeFromName, type BoolType, type IntType } from "./types";

/** The largest MEM-region struct: BTF member offsets are bit offsets in 32 bits. */
export const MAX_LAYOUT_SIZE = 1 << 28;
/** BTF type names the object itself uses (link/module.ts). */
const RESERVED_TYPES = new Set(["io_ring_ctx", "iou_loop_params", "io_uring_bpf_ops", "bpf_iter_num"]);

export type Scalar = IntType | BoolType;
export type { ArrayLayout, Slot, StructLayout } from "../ir/module";

/** Lay out the type a type node names. */
export function slotOf(cx: LowerContext, node: TypeNode, seen: Set<string> = new Set()): Slot {
  const text = node.getText().trim();
  const s = scalarTypeFromName(text);
  if (s) return { kind: "scalar", type: s, size: scalarSize(s), align: scalarSize(s) };
  if (Node.isTypeReference(node)) {
    const name = node.getTypeName().getText();
    const args = node.getTypeArguments();
    if (name === "FixedArray") {
      if (args.length !== 2) cx.fail(node, 2003, "FixedArray<T, N> takes an element type and a length");
      const n = Number(args[1].getText());
      if (!Number.isInteger(n) || n <= 0 || n > 1 << 20) cx.fail(args[1], 2003, "the length of a FixedArray must be a positive integer literal");
      const elem = slotOf(cx, args[0], seen);
      if (elem.size * n > MAX_LAYOUT_SIZE) cx.fail(node, 3007, `${text} is ${elem.size * n} bytes`);
      return { kind: "array", array: { elem, count: n }, size: elem.size * n, align: elem.align };
    }
    const layout = structLayout(cx, cx.sf, node, name, seen);
    return { kind: "struct", layout, size: layout.size, align: layout.align };
  }
  return cx.fail(node, 2003, text, "MEM-region fields are integers, bool, other interfaces or FixedArray<T, N>");
}

const cache = new WeakMap<SourceFile, Map<string, StructLayout>>();

/** Lay out the interface (or object type alias) `name` declared in the program's file. */
export function structLayout(cx: LowerContext, sf: SourceFile, at: Node, name: string, seen: Set<string> = new Set()): StructLayout {
  let byName = cache.get(sf);
  if (!byName) cache.set(sf, (byName = new Map()));
  const hit = byName.get(name);
  if (hit) return hit;
  if (seen.has(name)) cx.fail(at, 2003, `${name} contains itself`);
  seen.add(name);
  const iface = sf.getInterface(name);
  const alias = sf.getTypeAlias(name);
  const aliasType = alias?.getTypeNode();
  const members = iface ? iface.getProperties() : aliasType && Node.isTypeLiteral(aliasType) ? aliasType.getProperties() : undefined;
  if (!members) return cx.fail(at, 2003, `${name} is not an interface declared in this file`, "declare the MEM region's layout as an interface of integer fields");
  if (iface && (iface.getMethods().length || iface.getExtends().length)) cx.fail(iface, 2003, `${name} may only have data properties`);
  // The struct and its fields become BTF names; the kernel's own type names are taken by the object.
  const bad = RESERVED_TYPES.has(name) ? "the object already defines a type of this name" : objectNameProblem(name);
  if (bad) cx.fail(iface?.getNameNode() ?? alias?.getNameNode() ?? at, 2028, `MEM-region type '${name.slice(0, 40)}': ${bad}`);
  if (members.length > 0xffff) cx.fail(iface ?? alias ?? at, 3006, `${name} has ${members.length} fields (at most 65,535)`);
  const fields = new Map<string, { off: number; slot: Slot }>();
  let off = 0;
  let align = 1;
  for (const m of members) {
    const tn = m.getTypeNode();
    if (!tn) cx.fail(m, 2003, `${m.getName()} needs a type`);
    if (m.hasQuestionToken()) cx.fail(m, 2003, "optional fields have no C layout");
    const fieldBad = objectNameProblem(m.getName());
    if (fieldBad) cx.fail(m.getNameNode(), 2028, `field '${m.getName().slice(0, 40)}' of ${name}: ${fieldBad}`);
    const slot = slotOf(cx, tn, seen);
    off = Math.ceil(off / slot.align) * slot.align;
    if (off + slot.size > MAX_LAYOUT_SIZE) cx.fail(m, 3007, `${name} would be ${off + slot.size} bytes`);
    fields.set(m.getName(), { off, slot });
    off += slot.size;
    align = Math.max(align, slot.align);
  }
  const layout: StructLayout = { name, size: Math.max(1, Math.ceil(off / align) * align), align, fields };
  seen.delete(name);
  byName.set(name, layout);
  return layout;
}
