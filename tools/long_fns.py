#!/usr/bin/env python3
"""Lists Rust functions longer than a limit (default 80 lines, signature to closing brace).

    tools/long_fns.py [--max N] [--tests] [PATH ...]     (default: src/linux src/spec)

Test modules (`#[cfg(test)] mod … { … }`) are skipped unless --tests is given. A function
that is a table (data written as code) is exempt when a line of its doc comment or
attributes says `long-fn: table`. Output: one line per function, `LINES path:line name`,
longest first; exit status 1 when any is listed (so CI or the integrator can gate on it).
"""
import os
import re
import sys


def blank_out(src):
    """`src` with comments, strings and char literals replaced by spaces (newlines kept), so
    braces can be counted."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif re.match(r'(b|c)?r#*"', src[i:i + 40]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'(b|c)?r(#*)"', src[i:])
            end = '"' + m.group(2)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', '{'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def functions(path, with_tests):
    src = open(path, encoding="utf-8").read()
    code = blank_out(src)
    lines = src.split("\n")
    line_at = [0] * (len(code) + 1)
    ln = 1
    for k, ch in enumerate(code):
        line_at[k] = ln
        if ch == "\n":
            ln += 1
    line_at[len(code)] = ln

    def block_end(open_at):
        depth = 0
        for k in range(open_at, len(code)):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    return k
        return len(code) - 1

    skipped = []
    if not with_tests:
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code):
            skipped.append((m.start(), block_end(m.end() - 1)))
    for m in FN.finditer(code):
        if any(a <= m.start() <= b for a, b in skipped):
            continue
        # The body: the first `{` after the signature, unless a `;` comes first (a
        # declaration in a trait or extern block).
        k = m.end()
        depth = 0
        while k < len(code):
            ch = code[k]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]" and not (ch == ">" and code[k - 1] in "-="):
                depth -= 1
            elif ch == ";" and depth <= 0:
                k = -1
                break
            elif ch == "{" and depth <= 0:
                break
            k += 1
        if k < 0 or k >= len(code):
            continue
        start, end = line_at[m.start()], line_at[block_end(k)]
        # Doc comments and attributes right above the signature.
        above = []
        j = start - 2
        while j >= 0 and re.match(r"\s*(///|#\[|//)", lines[j]):
            above.append(lines[j])
            j -= 1
        if any("long-fn: table" in a for a in above):
            continue
        yield end - start + 1, start, m.group(1)


def main(argv):
    limit, with_tests, paths = 80, False, []
    it = iter(argv)
    for a in it:
        if a == "--max":
            limit = int(next(it))
        elif a == "--tests":
            with_tests = True
        else:
            paths.append(a)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not paths:
        paths = [os.path.join(root, "src/linux"), os.path.join(root, "src/spec")]
    files = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, names in os.walk(p):
                files += [os.path.join(d, f) for f in names if f.endswith(".rs")]
        else:
            files.append(p)
    found = []
    for f in sorted(files):
        for n, line, name in functions(f, with_tests):
            if n > limit:
                found.append((n, os.path.relpath(f, os.getcwd()), line, name))
    for n, f, line, name in sorted(found, key=lambda x: (-x[0], x[1], x[2])):
        print(f"{n:5} {f}:{line} {name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
