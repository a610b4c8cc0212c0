// The string table shared by .BTF, .BTF.ext and the ELF string sections: NUL-terminated UTF-8 strings,
// offset 0 is always the empty string, and adding a string twice returns the first offset.

/** A de-duplicating string table (offset 0 = ""). */
export class StringTable {
  private bytes: number[] = [0];
  private offsets = new Map<string, number>([["", 0]]);

  /** The offset of `s`, adding it if new. Strings must not contain NUL. */
  add(s: string): number {
    let off = this.offsets.get(s);
    if (off !== undefined) return off;
    if (s.includes("\0")) throw new Error(`internal: string with a NUL byte: ${JSON.stringify(s)}`);
    off = this.bytes.length;
    for (const b of Buffer.from(s, "utf8")) this.bytes.push(b);
    this.bytes.push(0);
    this.offsets.set(s, off);
    return off;
  }

  /** The offset of `s` if it is in the table. */
  find(s: string): number | undefined {
    return this.offsets.get(s);
  }

  /** Size of the table in bytes. */
  get size(): number {
    return this.bytes.length;
  }

  /** The table's bytes. */
  encode(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}
