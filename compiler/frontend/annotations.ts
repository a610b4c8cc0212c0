// Type annotations: the DSL type a TypeScript annotation names (scalars, ring views, MEM-region structs),
// the signature of a helper function, and the JSDoc tags the compiler reads (`@noinline`).

import { Node, type FunctionDeclaration } from "ts-morph";
import type { LowerContext } from "./context";
import { structLayout } from "./layout";
import { scalarTypeFromName, T, view, type DslType, type ViewKind } from "./types";

const VIEW_NAMES: Record<string, ViewKind> = { Ring: "ring", LoopParams: "lp", Sq: "sq", Cq: "cq", Sqe: "sqe", Cqe: "cqe" };

/** The DSL type a type annotation names. */
export function declaredType(cx: LowerContext, node: Node, text: string | undefined): DslType {
  if (text === undefined) return cx.fail(node, 2003, "a type annotation is required here", "annotate it, e.g. `x: u32`");
  const s = scalarTypeFromName(text.trim());
  if (s) return s;
  if (VIEW_NAMES[text.trim()]) return view(VIEW_NAMES[text.trim()]);
  if (Node.isTypeReference(node) && (cx.sf.getInterface(text.trim()) || cx.sf.getTypeAlias(text.trim())))
    return { kind: "view", view: "struct", layout: structLayout(cx, cx.sf, node, text.trim()) };
  if (text.trim() === "number") return cx.fail(node, 2003, "number", "say which integer: u32, i32, ...");
  if (text.trim() === "bigint") return cx.fail(node, 2003, "bigint", "say which integer: u64 or i64");
  return cx.fail(node, 2003, text);
}

/** Whether a helper is compiled as a BPF subprogram (JSDoc tag `@noinline`) instead of inlined. */
export function isNoInline(decl: FunctionDeclaration): boolean {
  return decl.getJsDocs().some((d) => d.getTags().some((t) => t.getTagName() === "noinline"));
}

/** The DSL types of a helper's parameters and result. */
export function signature(cx: LowerContext, decl: FunctionDeclaration): { params: DslType[]; ret: DslType } {
  const params = decl.getParameters().map((p) => declaredType(cx, p.getTypeNode() ?? p, p.getTypeNode()?.getText()));
  const retText = decl.getReturnTypeNode()?.getText();
  const ret: DslType = retText === undefined || retText === "void" ? T.void : declaredType(cx, decl.getReturnTypeNode()!, retText);
  if (ret.kind === "view") cx.fail(decl.getReturnTypeNode()!, 2018, "helpers cannot return ring views");
  return { params, ret };
}
