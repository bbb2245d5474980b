#!/usr/bin/env python3
"""The oldest Linux kernel xdpguard runs on, derived from what it uses.

Reads the built BPF objects (BUILD/bpf/skel/*.bpf.o: every instruction,
its relocations and the BTF of its maps), the instructions the classifier
generator can emit (src/lib/classifier/: the opcodes asm.cpp builds, the
helpers the emitters call, the loader's BTF function info) and the kernel
interfaces user space asks for (src/lib: map types and flags, batched map
operations, test-run flags). Each thing found is looked up in the tables
below: the kernel release that introduced it, and where that is written
down (the kernel commit; bcc's docs/kernel-versions.md lists most of them).
A thing the tables do not know is an error: add it, with its source.

Prints, per part of the product, what it uses and the release it needs.

  scripts/kernel-floor.py BUILD_DIR                 print the report
  scripts/kernel-floor.py BUILD_DIR --check README  also fail (exit 1) when the
                                                    README's generated table differs
  scripts/kernel-floor.py BUILD_DIR --update README rewrite that table

Exit status: 0 when every feature is known (and, with --check, the README
agrees); 1 otherwise, saying what to do.
"""
import argparse
import difflib
import glob
import json
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BCC = "bcc docs/kernel-versions.md"


def commit(sha):
    return "linux " + sha


# ---- the tables: feature -> (release, source) --------------------------------

# Helpers (by the name in enum bpf_func_id). For helpers that other program
# types had first, the release is the one XDP programs may call it from.
HELPERS = {
    "map_lookup_elem": ("3.19", BCC + ", " + commit("d0003ec01c66")),
    "map_update_elem": ("3.19", BCC + ", " + commit("d0003ec01c66")),
    "map_delete_elem": ("3.19", BCC + ", " + commit("d0003ec01c66")),
    "ktime_get_ns": ("4.1", BCC + ", " + commit("d9847d310ab4")),
    "get_prandom_u32": ("4.1", BCC + ", " + commit("03e69b508b6f")),
    "get_smp_processor_id": ("4.1", BCC + ", " + commit("c04167ce2ca0")),
    "tail_call": ("4.2", BCC + ", " + commit("04fd61ab36ec")),
    "csum_diff": ("4.6", BCC + ", " + commit("7d672345ed29")),
    # bpf_redirect is 4.4 for tc; XDP_REDIRECT (and the helper in XDP) 4.14.
    "redirect": ("4.14", BCC + " (XDP, action: redirect), " + commit("6453073987ba")),
    "xdp_adjust_tail": ("4.18", BCC + ", " + commit("b32cc5b9a346")),
    "xdp_adjust_head": ("4.10", BCC + ", " + commit("17bedab27231")),
    "redirect_map": ("4.14", BCC + ", " + commit("97f91a7cf04f")),
    "xdp_adjust_meta": ("4.15", BCC + ", " + commit("de8f3a83b0a0")),
    "fib_lookup": ("4.18", BCC + ", " + commit("87f5fc7e48dd")),
    "sk_lookup_tcp": ("4.20", BCC + ", " + commit("6acc9b432e67")),
    "sk_lookup_udp": ("4.20", BCC + ", " + commit("6acc9b432e67")),
    "sk_release": ("4.20", BCC + ", " + commit("6acc9b432e67")),
    "skc_lookup_tcp": ("5.2", BCC + ", " + commit("edbf8c01de5a")),
    "tcp_check_syncookie": ("5.2", BCC + ", " + commit("399040847084")),
    "tcp_gen_syncookie": ("5.3", BCC + ", " + commit("70d66244317e")),
    "jiffies64": ("5.5", BCC + ", " + commit("5576b991e9c1")),
    "spin_lock": ("5.1", BCC + ", " + commit("d83525ca62cf")),
    "spin_unlock": ("5.1", BCC + ", " + commit("d83525ca62cf")),
    "ringbuf_output": ("5.8", BCC + ", " + commit("457f44363a88")),
    "ringbuf_reserve": ("5.8", BCC + ", " + commit("457f44363a88")),
    "ringbuf_submit": ("5.8", BCC + ", " + commit("457f44363a88")),
    "ringbuf_discard": ("5.8", BCC + ", " + commit("457f44363a88")),
    "ringbuf_query": ("5.8", BCC + ", " + commit("457f44363a88")),
    "ktime_get_coarse_ns": ("5.11", BCC + ", " + commit("d05512618056")),
    "for_each_map_elem": ("5.13", BCC + ", " + commit("69c087ba6225")),
    "loop": ("5.17", BCC + ", " + commit("e6f2dd0f8067")),
    "xdp_load_bytes": ("5.18", BCC + ", " + commit("3f364222d032")),
    "xdp_store_bytes": ("5.18", BCC + ", " + commit("3f364222d032")),
    "tcp_raw_gen_syncookie_ipv4": ("6.0", BCC + ", " + commit("33bf9885040c")),
    "tcp_raw_gen_syncookie_ipv6": ("6.0", BCC + ", " + commit("33bf9885040c")),
    "tcp_raw_check_syncookie_ipv4": ("6.0", BCC + ", " + commit("33bf9885040c")),
    "tcp_raw_check_syncookie_ipv6": ("6.0", BCC + ", " + commit("33bf9885040c")),
}

# Kernel functions called from BPF (kfuncs), by name.
KFUNCS = {
    # net/netfilter/nf_conntrack_bpf.c; also kfuncs from modules and their
    # reference tracking (the same series).
    "bpf_xdp_ct_lookup": ("5.18", commit("b4c2b9593a1c") + " (net/netfilter: Add unstable CT lookup helpers)"),
    "bpf_ct_release": ("5.18", commit("b4c2b9593a1c") + " (net/netfilter: Add unstable CT lookup helpers)"),
}

# Instruction-level features.
INSNS = {
    "bpf2bpf calls": ("4.16", BCC + ", " + commit("cc8b0b92a169")),
    "bpf2bpf calls mixed with tail calls": ("5.10", BCC + " (x86_64; arm64 6.0), " + commit("e411901c0b77")),
    "global functions (verified one by one)": ("5.6", commit("51c39bb1d5d1") + " (bpf: Introduce function-by-function verification)"),
    "BTF function info for raw instructions": ("5.0", commit("838e96904ff3") + " (bpf: Introduce bpf_func_info)"),
    "jmp32 (32-bit conditional jumps)": ("5.1", commit("ae575c8a9868") + " (merge: bpf: add JMP32 support)"),
    "atomic add (xadd)": ("3.18", BCC + " (bpf() syscall, eBPF instruction set)"),
    "atomic fetch, xchg, cmpxchg, and/or/xor": ("5.12", commit("5ca419f2864a") + ", " + commit("5ffa25502b5a") + ", " + commit("981f94c3e921")),
    "gotol (32-bit unconditional jump, cpu v4)": ("6.6", commit("4cd58e9af8b9") + " (bpf: Support new 32bit offset jmp instruction)"),
    "cpu v4 sign extension, signed div/mod, bswap": ("6.6", "the cpu v4 series of " + commit("4cd58e9af8b9") + " (bpf-next v5: bpf: Support new insns from cpu v4)"),
    "global data (.rodata/.data/.bss, map values in instructions)": ("5.2", commit("d8eca5bbb2be") + " (bpf: implement lookup-free direct value access for maps)"),
    "callback functions (function pointers in instructions)": ("5.13", commit("69c087ba6225") + " (bpf: Add bpf_for_each_map_elem() helper)"),
    "kfunc calls": ("5.13", commit("e6ac2450d6de") + " (bpf: Support bpf program calling kernel function)"),
}

# Map types (enum bpf_map_type names without the prefix).
MAP_TYPES = {
    "HASH": ("3.19", BCC + ", " + commit("0f8e4bd8a1fc")),
    "ARRAY": ("3.19", BCC + ", " + commit("28fbcfa08d8e")),
    "PROG_ARRAY": ("4.2", BCC + ", " + commit("04fd61ab36ec")),
    "PERCPU_HASH": ("4.6", BCC + ", " + commit("824bd0ce6c7c")),
    "PERCPU_ARRAY": ("4.6", BCC + ", " + commit("a10423b87a7e")),
    "LRU_HASH": ("4.10", BCC + ", " + commit("29ba732acbee")),
    "LRU_PERCPU_HASH": ("4.10", BCC + ", " + commit("8f8449384ec3")),
    "LPM_TRIE": ("4.11", BCC + ", " + commit("b95a5c4db09b")),
    "ARRAY_OF_MAPS": ("4.12", BCC + ", " + commit("56f668dfe00d")),
    "HASH_OF_MAPS": ("4.12", BCC + ", " + commit("bcc6b1b7ebf8")),
    "DEVMAP": ("4.14", BCC + ", " + commit("546ac1ffb70d")),
    "XSKMAP": ("4.18", BCC + ", " + commit("fbfc504a24f5")),
    "RINGBUF": ("5.8", BCC + ", " + commit("457f44363a88")),
}

# Program sections (libbpf's SEC() names) -> program type.
SECTIONS = {
    "xdp": ("4.8", BCC + " (XDP), " + commit("6a773a15a1e8")),
}

# What user space asks of the kernel: a pattern in src/lib -> feature.
USERSPACE = [
    (r"\bbpf_map_(lookup|update|delete|lookup_and_delete)_batch\b", "batched map operations",
     "5.6", BCC + " (LOOKUP_BATCH, UPDATE_BATCH), " + commit("cb4d03ab499d") + ", " + commit("aa2e93b8e58e")),
    (r"\bBPF_F_RDONLY_PROG\b", "read-only maps for programs (BPF_F_RDONLY_PROG)",
     "5.2", commit("591fe9888d78") + " (bpf: add program side {rd, wr}only support for maps)"),
    (r"\bBPF_F_LOCK\b", "map element spin locks from user space (BPF_F_LOCK)",
     "5.1", commit("96049f3afd50") + " (bpf: introduce BPF_F_LOCK flag)"),
    (r"\bBPF_F_INNER_MAP\b", "inner maps of other sizes (BPF_F_INNER_MAP)",
     "5.10", commit("4a8f87e60f6d") + " (bpf: Allow for map-in-map with dynamic inner array map entries)"),
    (r"\bBPF_F_TEST_XDP_LIVE_FRAMES\b", "live frames in BPF_PROG_TEST_RUN (BPF_F_TEST_XDP_LIVE_FRAMES)",
     "5.18", commit("b530e9e1063e") + " (bpf: Add \"live packet\" mode for XDP in BPF_PROG_RUN)"),
    (r"\bbpf_prog_test_run_opts\b", "BPF_PROG_TEST_RUN for XDP",
     "4.12", BCC + " (testing / benchmarking BPF programs), " + commit("1cf1cae963c2")),
]

# Tokens of src/lib/classifier/asm.cpp that build instructions, and what
# they need (None: the base instruction set). A BPF_* token in asm.cpp that
# is in neither list is an error: classify it here.
ASM_FEATURES = {
    "BPF_JMP32 | BPF_JA": "gotol (32-bit unconditional jump, cpu v4)",
    "BPF_JMP32": "jmp32 (32-bit conditional jumps)",
    "BPF_PSEUDO_CALL": "bpf2bpf calls",
    "BPF_PSEUDO_MAP_VALUE": "global data (.rodata/.data/.bss, map values in instructions)",
    "BPF_ATOMIC": "atomic fetch, xchg, cmpxchg, and/or/xor",
    "BPF_CMPXCHG": "atomic fetch, xchg, cmpxchg, and/or/xor",
    "BPF_MEMSX": "cpu v4 sign extension, signed div/mod, bswap",
}
ASM_BASE = {
    "BPF_ALU64", "BPF_ALU", "BPF_MOV", "BPF_X", "BPF_K", "BPF_END", "BPF_TO_BE", "BPF_LD", "BPF_LDX",
    "BPF_ST", "BPF_STX", "BPF_MEM", "BPF_IMM", "BPF_DW", "BPF_W", "BPF_H", "BPF_B", "BPF_JMP", "BPF_JA",
    "BPF_CALL", "BPF_EXIT", "BPF_JEQ", "BPF_JNE", "BPF_JGT", "BPF_JGE", "BPF_JLT", "BPF_JLE", "BPF_JSET",
    "BPF_ADD", "BPF_SUB", "BPF_MUL", "BPF_OR", "BPF_AND", "BPF_LSH", "BPF_RSH", "BPF_XOR", "BPF_ARSH",
    "BPF_PSEUDO_MAP_FD", "BPF_CLASS", "BPF_OP", "BPF_SIZE", "BPF_SRC", "BPF_MODE",
}
# Features the generated code has only in some rule sets: when.
ASM_CONDITIONAL = {
    "gotol (32-bit unconditional jump, cpu v4)":
        "a rule set whose classifier needs a jump over more than 32,767 instructions",
}

# Parts of the product: the objects and sources each needs ("classifier":
# what generated classifiers can contain; "userspace:SPEC": see
# scan_userspace). The lab and the demo are tools around the product.
PARTS = [
    # stubs.bpf.o: the C the classifier splices in (classifier/stub.h)
    ("attach, rules, sets, rate limits, telemetry, flood detection",
     ["guard.bpf.o", "stubs.bpf.o", "classifier", "userspace:-gen/,-lab/,-demo/,-bpf/test_run."]),
    ("synproxy", ["synproxy.bpf.o"]),
    ("gen (the lab traffic generator)", ["gen.bpf.o", "userspace:gen/,bpf/test_run."]),
]


def vkey(v):
    return tuple(int(x) for x in v.split("."))


class Unknown(Exception):
    pass


# ---- the kernel's own names for ids (from the UAPI header) -------------------

def uapi_header():
    for inc in ["/usr/include/linux/bpf.h"] + glob.glob("/usr/include/*/linux/bpf.h"):
        if os.path.exists(inc):
            return open(inc).read()
    raise SystemExit("kernel-floor: /usr/include/linux/bpf.h not found (linux-libc-dev)")


def helper_names(text):
    body = re.search(r"#define ___?BPF_FUNC_MAPPER\(FN(?:, ctx\.\.\.)?\)\s*\\\n(.*?)\n\s*\n", text, re.S).group(1)
    names = {}
    for n, (name, num) in enumerate(re.findall(r"FN\((\w+)(?:,\s*(\d+))?", body)):
        names[int(num) if num else n] = name
    return names


def map_type_names(text):
    body = re.search(r"enum bpf_map_type \{(.*?)\};", text, re.S).group(1)
    names, n = {}, 0
    for line in body.splitlines():
        m = re.match(r"\s*BPF_MAP_TYPE_(\w+)(\s*=\s*(\w+))?\s*,", line)
        if not m:
            continue
        if m.group(3):
            n = int(m.group(3), 0) if m.group(3)[0].isdigit() else names_rev(names, m.group(3))
        names[n] = m.group(1)
        n += 1
    return names


def names_rev(names, sym):
    for k, v in names.items():
        if "BPF_MAP_TYPE_" + v == sym:
            return k
    raise SystemExit("kernel-floor: cannot parse enum bpf_map_type")


# ---- ELF -------------------------------------------------------------------

class Elf:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise SystemExit(f"kernel-floor: {path}: not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        self.sections = []
        for i in range(shnum):
            name, typ, flags, _addr, off, size, link, info, _align, entsize = struct.unpack_from(
                "<IIQQQQIIQQ", d, shoff + i * shentsize)
            self.sections.append(dict(name=name, type=typ, flags=flags, off=off, size=size, link=link,
                                      info=info, entsize=entsize))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s["name"] = self.cstr(strtab["off"] + s["name"])
        self.symbols = []
        for s in self.sections:
            if s["type"] == 2:  # SHT_SYMTAB
                names = self.sections[s["link"]]
                for off in range(s["off"], s["off"] + s["size"], 24):
                    nm, info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", d, off)
                    self.symbols.append(dict(name=self.cstr(names["off"] + nm), shndx=shndx, value=value,
                                             bind=info >> 4))

    def cstr(self, off):
        return self.data[off:self.data.index(b"\0", off)].decode()

    def code_sections(self):
        return [(i, s) for i, s in enumerate(self.sections) if s["type"] == 1 and s["flags"] & 0x4]

    def relocations(self, index):
        """offset -> the symbol a relocation of section `index` names."""
        out = {}
        for s in self.sections:
            if s["type"] == 9 and s["info"] == index:  # SHT_REL
                for off in range(s["off"], s["off"] + s["size"], 16):
                    r_off, r_info = struct.unpack_from("<QQ", self.data, off)
                    out[r_off] = self.symbols[r_info >> 32]
        return out


def scan_object(path, helpers_by_id, map_types_by_id):
    """Features of one .bpf.o: name -> (release, source, where)."""
    elf = Elf(path)
    found = {}

    def add(table, key, what, where):
        if key not in table:
            raise Unknown(f"{os.path.basename(path)}: {what} \"{key}\" ({where}) is not in the tables of "
                          f"scripts/kernel-floor.py: add the release that introduced it, with its source")
        found.setdefault(f"{what} {key}", (*table[key], where))

    tail_calls = bpf2bpf = False
    for index, sec in elf.code_sections():
        name = sec["name"]
        if name != ".text":
            add(SECTIONS, name, "program section", "SEC()")
        relocs = elf.relocations(index)
        code = elf.data[sec["off"]:sec["off"] + sec["size"]]
        pc, n = 0, len(code) // 8
        while pc < n:
            op, regs, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
            src, cls = regs >> 4, op & 7
            rel = relocs.get(pc * 8)
            where = f"{name}+{pc}"
            if op == 0x85:  # call
                if rel is not None and rel["shndx"] == 0:
                    add(KFUNCS, rel["name"], "kfunc", where)
                    add(INSNS, "kfunc calls", "instruction", where)
                elif src == 1 or rel is not None:
                    bpf2bpf = True
                    add(INSNS, "bpf2bpf calls", "instruction", where)
                else:
                    helper = helpers_by_id.get(imm)
                    if helper is None:
                        raise Unknown(f"{os.path.basename(path)}: helper id {imm} ({where}) is not in "
                                      f"/usr/include/linux/bpf.h: a newer linux-libc-dev is needed")
                    add(HELPERS, helper, "helper", where)
                    tail_calls |= helper == "tail_call"
            elif op == 0x18:  # ld_imm64: what the relocation points at
                if rel is not None:
                    target = elf.sections[rel["shndx"]] if 0 < rel["shndx"] < len(elf.sections) else None
                    tname = target["name"] if target else ""
                    if tname.startswith((".rodata", ".data", ".bss")):
                        add(INSNS, "global data (.rodata/.data/.bss, map values in instructions)", "instruction",
                            where)
                    elif target is not None and target["flags"] & 0x4:
                        add(INSNS, "callback functions (function pointers in instructions)", "instruction", where)
                pc += 1
            elif cls == 6 and (op & 0xF0) == 0x00:  # BPF_JMP32 | BPF_JA
                add(INSNS, "gotol (32-bit unconditional jump, cpu v4)", "instruction", where)
            elif cls == 6 and (op & 0xF0) not in (0x80, 0x90):
                add(INSNS, "jmp32 (32-bit conditional jumps)", "instruction", where)
            elif cls == 3 and (op & 0xE0) == 0xC0:  # BPF_STX | BPF_ATOMIC
                key = "atomic add (xadd)" if imm == 0 else "atomic fetch, xchg, cmpxchg, and/or/xor"
                add(INSNS, key, "instruction", where)
            elif (cls == 1 and (op & 0xE0) == 0x80) or \
                    (cls in (4, 7) and (op & 0xF0) == 0xB0 and off != 0) or \
                    (cls in (4, 7) and (op & 0xF0) in (0x30, 0x90) and off == 1) or \
                    (cls == 7 and (op & 0xF0) == 0xD0):
                add(INSNS, "cpu v4 sign extension, signed div/mod, bswap", "instruction", where)
            pc += 1
    if tail_calls and bpf2bpf:
        add(INSNS, "bpf2bpf calls mixed with tail calls", "instruction", "the object")

    btf = json.loads(subprocess.run(["bpftool", "-j", "btf", "dump", "file", path], check=True,
                                    capture_output=True, text=True).stdout)["types"]
    by_id = {t["id"]: t for t in btf}
    entries = {s["name"] for i, s in elf.code_sections() if s["name"] != ".text"}
    for t in btf:
        if t["kind"] == "FUNC" and t.get("linkage") == "global":
            sym = next((s for s in elf.symbols if s["name"] == t["name"] and s["shndx"]), None)
            if sym and elf.sections[sym["shndx"]]["name"] not in entries:
                add(INSNS, "global functions (verified one by one)", "instruction", t["name"])
        if t["kind"] == "DATASEC" and t["name"] == ".maps":
            for v in t["vars"]:
                var = by_id[v["type_id"]]
                struct_t = by_id[var["type_id"]]
                member = next((m for m in struct_t.get("members", []) if m["name"] == "type"), None)
                if member is None:
                    continue
                arr = by_id[by_id[member["type_id"]]["type_id"]]  # int (*type)[N]
                mtype = map_types_by_id.get(arr["nr_elems"], str(arr["nr_elems"]))
                add(MAP_TYPES, mtype, "map type", var["name"])
    return found


def scan_classifier():
    """What generated classifiers can contain, from the generator's source."""
    found = {}
    cls_dir = os.path.join(ROOT, "src/lib/classifier")
    asm = open(os.path.join(cls_dir, "asm.cpp")).read()
    for token, feature in ASM_FEATURES.items():
        if re.search(re.escape(token).replace(r"\ ", r"\s*"), asm):
            when = ASM_CONDITIONAL.get(feature, "")
            found[f"instruction {feature}"] = (*INSNS[feature], "asm.cpp" + (f"; only {when}" if when else ""))
    known = ASM_BASE | {t for k in ASM_FEATURES for t in re.findall(r"BPF_\w+", k)}
    for token in sorted(set(re.findall(r"\bBPF_[A-Z0-9_]+\b", asm)) - known):
        raise Unknown(f"src/lib/classifier/asm.cpp builds instructions with {token}, which "
                      f"scripts/kernel-floor.py does not classify: add it to ASM_FEATURES or ASM_BASE")
    for path in sorted(glob.glob(os.path.join(cls_dir, "*.cpp")) + glob.glob(os.path.join(cls_dir, "*.h"))):
        text = open(path).read()
        for helper in sorted(set(re.findall(r"\bBPF_FUNC_(\w+)\b", text))):
            if helper not in HELPERS:
                raise Unknown(f"{os.path.relpath(path, ROOT)}: helper {helper} is not in the tables of "
                              f"scripts/kernel-floor.py: add the release that introduced it, with its source")
            found.setdefault(f"helper {helper}", (*HELPERS[helper], os.path.basename(path)))
        for mtype in sorted(set(re.findall(r"\bBPF_MAP_TYPE_(\w+)\b", text))):
            if mtype not in MAP_TYPES:
                raise Unknown(f"{os.path.relpath(path, ROOT)}: map type {mtype} is not in the tables")
            found.setdefault(f"map type {mtype}", (*MAP_TYPES[mtype], os.path.basename(path)))
    calls = "helper tail_call" in found and "instruction bpf2bpf calls" in found
    if calls:
        found["instruction bpf2bpf calls mixed with tail calls"] = (*INSNS["bpf2bpf calls mixed with tail calls"],
                                                                    "emit.cpp")
    if re.search(r"\bfunc_info\b", open(os.path.join(cls_dir, "loader.cpp")).read()):
        found["instruction BTF function info for raw instructions"] = (
            *INSNS["BTF function info for raw instructions"], "loader.cpp")
        if "FnSig::Group" in open(os.path.join(cls_dir, "emit.cpp")).read():
            found["instruction global functions (verified one by one)"] = (
                *INSNS["global functions (verified one by one)"], "emit.cpp")
    return found


def scan_userspace(spec):
    """Kernel interfaces user space asks for, in the files of src/lib that
    `spec` names: "a,b" (only those paths) or "-a,-b" (all but those)."""
    found = {}
    paths = spec.split(",")
    exclude = all(p.startswith("-") for p in paths)
    paths = [p.lstrip("-") for p in paths]
    files = sorted(glob.glob(os.path.join(ROOT, "src/lib/**/*.cpp"), recursive=True) +
                   glob.glob(os.path.join(ROOT, "src/lib/**/*.h"), recursive=True))
    for path in files:
        rel = os.path.relpath(path, os.path.join(ROOT, "src/lib"))
        if any(rel.startswith(p) for p in paths) == exclude:
            continue
        text = open(path).read()
        for pattern, what, release, source in USERSPACE:
            if re.search(pattern, text):
                found.setdefault(f"user space {what}", (release, source, rel))
        if not rel.startswith("classifier/"):
            for mtype in sorted(set(re.findall(r"\bBPF_MAP_TYPE_(\w+)\b", text))):
                if mtype not in MAP_TYPES:
                    raise Unknown(f"src/lib/{rel}: map type {mtype} is not in the tables")
                found.setdefault(f"map type {mtype}", (*MAP_TYPES[mtype], rel))
    return found


# ---- report ------------------------------------------------------------------

def parts_report(build):
    header = uapi_header()
    helpers, maps = helper_names(header), map_type_names(header)
    skel = os.path.join(build, "bpf", "skel")
    objects = sorted(os.path.basename(p) for p in glob.glob(os.path.join(skel, "*.bpf.o")))
    if not objects:
        raise SystemExit(f"kernel-floor: no BPF objects in {skel} (build first)")
    named = {x for _, srcs in PARTS for x in srcs if x.endswith(".bpf.o")}
    for obj in objects:
        if obj not in named:
            raise Unknown(f"{skel}/{obj} belongs to no part of the product: add it to PARTS in "
                          f"scripts/kernel-floor.py")
    report = []
    for part, sources in PARTS:
        feats = {}
        for src in sources:
            if src.endswith(".bpf.o"):
                feats.update(scan_object(os.path.join(skel, src), helpers, maps))
            elif src == "classifier":
                feats.update(scan_classifier())
            elif src.startswith("userspace:"):
                feats.update(scan_userspace(src.split(":", 1)[1]))
        report.append((part, feats))
    return report


def floor_of(feats, conditional=False):
    vs = [(vkey(r), r) for k, (r, _s, w) in feats.items() if ("; only " in w) == conditional]
    return max(vs)[1] if vs else None


def label(key):
    kind, name = key.split(" ", 1)
    if kind == "helper":
        return f"`bpf_{name}()`"
    if kind == "kfunc":
        return f"kfunc `{name}()`"
    if kind == "map":
        return "map type " + name.split(" ", 1)[1]
    if kind == "program":
        return "program type " + name.split(" ", 1)[1]
    if kind == "user":
        return name.split(" ", 1)[1]
    return name


def newest(feats, versions=3):
    by = {}
    for k, (r, _s, w) in feats.items():
        if "; only " not in w:
            by.setdefault(r, []).append(label(k))
    return "; ".join(f"{', '.join(sorted(by[r]))} ({r})" for r in sorted(by, key=vkey, reverse=True)[:versions])


def readme_block(report):
    lines = ["<!-- kernel-floor: generated by scripts/kernel-floor.py from the built objects; "
             "`make test` checks it -->",
             "| part | needs | the newest of what it uses |", "| --- | --- | --- |"]
    for part, feats in report:
        lines.append(f"| {part} | Linux {floor_of(feats)} | {newest(feats)} |")
        for k, (r, _s, w) in sorted(feats.items()):
            if "; only " in w:
                lines.append(f"| {part}: {w.split('; only ', 1)[1]} | Linux {r} | {label(k)} |")
    lines.append("<!-- kernel-floor: end -->")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", metavar="README")
    g.add_argument("--update", metavar="README")
    args = ap.parse_args()
    try:
        report = parts_report(args.build)
    except Unknown as e:
        print(f"kernel-floor: {e}", file=sys.stderr)
        return 1
    for part, feats in report:
        print(f"{part}: Linux {floor_of(feats)}")
        for k, (r, s, w) in sorted(feats.items(), key=lambda kv: (vkey(kv[1][0]), kv[0]), reverse=True):
            print(f"  {r:>5}  {k}  [{w}]  ({s})")
    floors = [floor_of(f) for _p, f in report]
    print(f"floor: Linux {max(floors, key=vkey)} for every part; "
          f"{report[0][0]}: Linux {floors[0]}")
    block = readme_block(report)
    path = args.check or args.update
    if not path:
        return 0
    text = open(path).read()
    m = re.search(r"<!-- kernel-floor: generated.*?<!-- kernel-floor: end -->", text, re.S)
    if not m:
        print(f"kernel-floor: {path} has no generated table (<!-- kernel-floor: generated ... end -->)",
              file=sys.stderr)
        return 1
    if args.update:
        open(path, "w").write(text[:m.start()] + block + text[m.end():])
        print(f"kernel-floor: {path} updated")
        return 0
    if m.group(0) != block:
        sys.stderr.writelines(difflib.unified_diff(m.group(0).splitlines(True), (block + "\n").splitlines(True),
                                                   path, "derived"))
        print(f"\nkernel-floor: {path} states another kernel floor than the objects need; run:\n"
              f"  scripts/kernel-floor.py {args.build} --update {path}", file=sys.stderr)
        return 1
    print(f"kernel-floor: {path} agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
