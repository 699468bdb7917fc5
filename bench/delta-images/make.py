#!/usr/bin/env python3
"""Reproducible root-filesystem images for bench/delta.

    make.py WORK SIZE_MIB

Copies SIZE_MIB of regular files of at most 8 MiB from /usr/bin,
/usr/lib/x86_64-linux-gnu, /usr/share and /usr/lib (sorted, so every run
picks the same ones) into WORK/tree once, then writes four ext4 images made with the
same mke2fs settings (fixed UUID, hash seed and time), each from the same
folder edited in place and put back after (a copy would list its files in
another order and move everything):

    v1.img   the tree as copied
    va.img   (a) one package upgraded: the files of one folder of 0.5-4 MiB
             get 30 % of their 4 KiB blocks rewritten and grow by 4 KiB
    vb.img   (b) one config file: 100 bytes of one small text file changed
    vc.img   (c) 10 % of the files (every tenth) changed as in (a)

Prints one line per image: NAME BYTES, and a line per case saying what
changed.
"""
import os
import random
import subprocess
import sys

work, size_mib = sys.argv[1], int(sys.argv[2])
tree = os.path.join(work, "tree")
UUID = "3b1e2f9a-7c55-4d1e-9a2b-6f0c8d4e1a77"


def pick_files():
    """About SIZE_MIB of files sampled evenly over the folders (a hash of each path decides), so the tree has the
    mix of a root filesystem rather than the first folders alone."""
    import hashlib
    candidates = []
    seen = set()
    for top in ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/lib"]:
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if path in seen or not os.path.isfile(path) or os.path.islink(path):
                    continue
                size = os.path.getsize(path)
                if size <= (8 << 20):
                    seen.add(path)
                    candidates.append((path, size))
    available = sum(size for _, size in candidates)
    share = min(1.0, (size_mib << 20) / max(available, 1))
    chosen = [p for p, _ in candidates
              if int.from_bytes(hashlib.sha1(p.encode()).digest()[:4], "big") / 2**32 < share]
    return chosen, sum(os.path.getsize(p) for p in chosen)


def copy_tree():
    if os.path.isdir(tree):
        return
    os.makedirs(work, exist_ok=True)
    chosen, _ = pick_files()
    listing = os.path.join(work, "files.txt")
    with open(listing, "w") as out:
        out.write("\n".join(p.lstrip("/") for p in chosen) + "\n")
    os.makedirs(tree)
    tar = subprocess.Popen(["tar", "-cf", "-", "-C", "/", "-T", listing], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-xf", "-", "-C", tree], stdin=tar.stdout, check=True)
    tar.wait()


def files():
    out = []
    for folder, dirs, names in os.walk(tree):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                out.append(path)
    return out


def tree_bytes():
    return sum(os.path.getsize(p) for p in files())


def make_image(name):
    out = os.path.join(work, name)
    kib = (tree_bytes() * 13 // 10 >> 10) + 65536
    env = dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-U", UUID,
         "-E", f"hash_seed={UUID},root_owner=0:0", "-d", tree, out, f"{kib}k"],
        env=env, check=True, stdout=subprocess.DEVNULL)
    print(name, os.path.getsize(out), flush=True)


def upgrade(path, rng):
    """A new version of a binary: 30 % of its 4 KiB blocks rewritten, 4 KiB longer."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    for block in range(0, len(data), 4096):
        if rng.random() < 0.3:
            end = min(block + 4096, len(data))
            data[block:end] = rng.randbytes(end - block)
    data += rng.randbytes(4096)
    with open(path, "wb") as f:
        f.write(data)


def edited(paths, change, name, what):
    saved = {p: open(p, "rb").read() for p in paths}
    rng = random.Random(name)
    for p in paths:
        change(p, rng)
    make_image(name)
    for p, data in saved.items():
        with open(p, "wb") as f:
            f.write(data)
    print("case", name, what, flush=True)


copy_tree()
make_image("v1.img")
all_files = files()

# (a): the folder whose own files come closest to 2 MiB, between 1 and 4 MiB.
by_folder = {}
for p in all_files:
    by_folder.setdefault(os.path.dirname(p), []).append(p)
sizes = {d: sum(os.path.getsize(p) for p in ps) for d, ps in by_folder.items()}
fitting = [d for d, s in sizes.items() if (512 << 10) <= s <= (4 << 20) and len(by_folder[d]) >= 3] or sorted(sizes, key=sizes.get)[-1:]
package = min(fitting, key=lambda d: abs(sizes[d] - (2 << 20)))
edited(by_folder[package], upgrade, "va.img",
       f"{len(by_folder[package])} files, {sizes[package]} bytes in {os.path.relpath(package, tree)}")


# (b): the first small text file.
def is_text(path):
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"\0" not in head and len(head) > 200


config = next(p for p in all_files if 1000 <= os.path.getsize(p) <= 8192 and is_text(p))


def change_line(path, rng):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    at = len(data) // 2
    data[at:at + 100] = bytes(rng.choice(b"abcdefghij") for _ in range(100))
    with open(path, "wb") as f:
        f.write(data)


edited([config], change_line, "vb.img", f"100 bytes of {os.path.relpath(config, tree)}")

# (c): every tenth file.
tenth = all_files[::10]
edited(tenth, upgrade, "vc.img", f"{len(tenth)} of {len(all_files)} files, {sum(os.path.getsize(p) for p in tenth)} bytes")
