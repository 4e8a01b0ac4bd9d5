#!/usr/bin/env python3
"""Build drover's test images as OCI image layouts, without Docker.

Standard library only. Every image is described as data (layers of tar
entries plus an image config); the layer tars are written by hand, sorted,
with fixed owners and mtimes and gzip mtime 0, so the same inputs always
give the same digests. Contents come from the host's Debian packages
(busybox-static, redis-server, gosu, libc) or are spelled out here.

Usage:
  mkimage.py build OUTROOT [ID...]   build layouts OUTROOT/ID (all IDs if none);
                                     skips a layout whose input fingerprint is
                                     unchanged
  mkimage.py list                    print the layout IDs
  mkimage.py check-tree ROOTFS EXPECTED.json
                                     compare an unpacked rootfs with an
                                     expectation file (layers-expected.json)

Each layout directory holds an OCI image layout (oci-layout, index.json,
blobs/sha256/...) whose index.json names each tag with the
org.opencontainers.image.ref.name annotation, plus two helper files:
`fingerprint` (hash of all inputs) and `refs` (lines "TAG DIGEST MEDIATYPE").
"""

import calendar
import concurrent.futures
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
LAYERS_EXPECTED = os.path.join(HERE, "layers-expected.json")

EPOCH = calendar.timegm((2020, 1, 1, 0, 0, 0))  # default mtime of every entry
CREATED = "2020-01-01T00:00:00Z"
T_DIR = calendar.timegm((2001, 2, 3, 4, 5, 6))  # layers image: a directory mtime
T_FILE = calendar.timegm((2011, 12, 13, 14, 15, 16))  # layers image: a file mtime

BUSYBOX = "/bin/busybox"  # busybox-static: no shared libraries needed
REDIS = "/usr/bin/redis-server"
GOSU = "/usr/sbin/gosu"  # static Go binary
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
GZIP_LEVEL = 6  # gzip's default; level 9 is much slower for little gain
CHUNK = 1 << 20
ZERO_CHUNK = bytes(CHUNK)  # write_tar passes this very object for runs of zeros


# ---------------------------------------------------------------------------
# Tar entries. An entry is a dict; these helpers fill in the defaults.

def _entry(name, kind, mode, uid=0, gid=0, mtime=EPOCH, **kw):
    e = {"name": name, "kind": kind, "mode": mode, "uid": uid, "gid": gid, "mtime": mtime}
    e.update(kw)
    return e


def d(name, mode=0o755, **kw):
    return _entry(name, "dir", mode, **kw)


def f(name, data=b"", mode=0o644, **kw):
    """A regular file with literal content (bytes or str)."""
    if isinstance(data, str):
        data = data.encode()
    return _entry(name, "file", mode, data=data, **kw)


def hostfile(name, src, mode=None, **kw):
    """A regular file copied from the host at build time."""
    if mode is None:
        mode = stat.S_IMODE(os.stat(src).st_mode)
    return _entry(name, "file", mode, src=src, **kw)


def zeros(name, size, mode=0o644, **kw):
    """A regular file of `size` zero bytes, streamed (never held in memory)."""
    return _entry(name, "file", mode, zeros=size, **kw)


def sym(name, target, **kw):
    return _entry(name, "symlink", 0o777, link=target, **kw)


def hardlink(name, target, **kw):
    return _entry(name, "hardlink", 0o644, link=target, **kw)


def chardev(name, major, minor, mode=0o666, **kw):
    return _entry(name, "char", mode, major=major, minor=minor, **kw)


def fifo(name, mode=0o644, **kw):
    return _entry(name, "fifo", mode, **kw)


def layer(entries, comp="gzip", sort=True, parents=True, comment=""):
    """A layer. sort=False keeps the given entry order (needed to put an
    opaque marker after a sibling, or to order hostile entries);
    parents=True adds missing parent directories (0755, root, EPOCH)."""
    return {"entries": entries, "comp": comp, "sort": sort, "parents": parents, "comment": comment}


# The images hold the host's own Debian binaries: label them with its architecture.
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def image(layers, config, arch=HOST_ARCH, variant=None):
    return {"layers": layers, "config": config, "arch": arch, "variant": variant}


def with_parents(entries):
    have = {e["name"].rstrip("/") for e in entries}
    out = list(entries)
    for e in entries:
        parts = e["name"].strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in have and p not in (".", ".."):
                have.add(p)
                out.append(d(p))
    return out


TYPEFLAG = {
    "dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE,
}


def tar_header(e, size):
    ti = tarfile.TarInfo(e["name"])  # names are written as given (no '/' stripping)
    ti.type = TYPEFLAG[e["kind"]]
    ti.mode = e["mode"]
    ti.uid, ti.gid = e["uid"], e["gid"]
    ti.uname = ti.gname = ""  # numeric ids only, as image unpackers use them
    ti.mtime = int(e["mtime"])
    ti.size = size
    ti.linkname = e.get("link", "")
    if e["kind"] == "char":
        ti.devmajor, ti.devminor = e["major"], e["minor"]
    if e.get("xattrs"):
        # PAX records SCHILY.xattr.<name>; values are bytes, passed through
        # surrogateescape so tarfile writes them back unchanged.
        ti.pax_headers = {
            "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
            for k, v in sorted(e["xattrs"].items())
        }
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def write_tar(entries, out):
    """Write a tar stream of `entries` to out(bytes). No record padding:
    two zero blocks end the archive, as Go's archive/tar writes it."""
    for e in entries:
        if e["kind"] != "file":
            out(tar_header(e, 0))
            continue
        if "data" in e:
            size = len(e["data"])
            out(tar_header(e, size))
            out(e["data"])
        elif "zeros" in e:
            size = e["zeros"]
            out(tar_header(e, size))
            left = size
            while left:
                n = min(left, CHUNK)
                out(ZERO_CHUNK if n == CHUNK else bytes(n))
                left -= n
        else:
            size = os.stat(e["src"]).st_size
            out(tar_header(e, size))
            got = 0
            with open(e["src"], "rb") as fh:
                while True:
                    buf = fh.read(CHUNK)
                    if not buf:
                        break
                    got += len(buf)
                    out(buf)
            if got != size:
                raise RuntimeError(f"{e['src']} changed size while reading")
        if size % 512:
            out(bytes(512 - size % 512))
    out(bytes(1024))


def write_gzip(entries, fh, diff):
    """One gzip member (header mtime 0, no name) around a raw deflate stream.

    Runs of zeros (the 2 GiB bomb) are not pushed through zlib: a chunk of
    zeros is deflated once by a fresh compressor and that output repeated.
    This is a valid stream because the main compressor is fully flushed
    first (so nothing after refers back past the run) and the repeated
    block refers only to itself. Deflating 2 GiB would take ~10 s."""
    fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    crc, isize, zero_block, in_zeros = 0, 0, None, False

    def out(b):
        nonlocal crc, isize, zero_block, in_zeros
        diff.update(b)
        crc = zlib.crc32(b, crc)
        isize += len(b)
        if b is ZERO_CHUNK:
            if not in_zeros:
                fh.write(z.flush(zlib.Z_FULL_FLUSH))
                in_zeros = True
            if zero_block is None:
                zz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
                zero_block = zz.compress(b) + zz.flush(zlib.Z_FULL_FLUSH)
            fh.write(zero_block)
        else:
            in_zeros = False
            fh.write(z.compress(b))
    write_tar(entries, out)
    fh.write(z.flush())
    fh.write(crc.to_bytes(4, "little") + (isize & 0xFFFFFFFF).to_bytes(4, "little"))


def layer_entries(ly):
    entries = with_parents(ly["entries"]) if ly["parents"] else list(ly["entries"])
    if ly["sort"]:
        entries.sort(key=lambda e: e["name"])
    return entries


# ---------------------------------------------------------------------------
# Fingerprints: a hash over everything that determines a layout's bytes.

def _fp_entry(e):
    out = {k: v for k, v in e.items() if k not in ("data", "src", "xattrs")}
    if "data" in e:
        out["data"] = hashlib.sha256(e["data"]).hexdigest()
    if "src" in e:
        st = os.stat(e["src"])
        out["src"] = [e["src"], st.st_size, st.st_mtime_ns, st.st_ino]
    if e.get("xattrs"):
        out["xattrs"] = {k: v.hex() for k, v in e["xattrs"].items()}
    return out


def _fp(obj):
    if isinstance(obj, dict) and "kind" in obj and "mode" in obj:
        return _fp_entry(obj)
    if isinstance(obj, dict):
        return {k: _fp(v) for k, v in obj.items() if k != "verify"}
    if isinstance(obj, (list, tuple)):
        return [_fp(v) for v in obj]
    if isinstance(obj, bytes):
        return hashlib.sha256(obj).hexdigest()
    return obj


def fingerprint(spec):
    with open(os.path.abspath(__file__), "rb") as fh:
        me = hashlib.sha256(fh.read()).hexdigest()
    body = json.dumps([me, _fp(spec["tags"])], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


# ---------------------------------------------------------------------------
# OCI layout writer.

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        self.layer_cache = {}

    def put_bytes(self, data, media_type):
        dg = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, dg)
        if not os.path.exists(path):
            with open(path, "wb") as fh:
                fh.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + dg, "size": len(data)}

    def put_layer(self, ly):
        """Write one layer blob; returns (descriptor, diff_id)."""
        key = json.dumps(_fp({k: v for k, v in ly.items() if k != "comment"}), sort_keys=True)
        if key in self.layer_cache:
            return self.layer_cache[key]
        entries = layer_entries(ly)
        tmp = os.path.join(self.blobs, ".tmp-layer")
        diff = hashlib.sha256()
        comp = ly["comp"]
        with open(tmp, "wb") as fh:
            if comp == "gzip":
                write_gzip(entries, fh, diff)
            elif comp == "zstd":
                # No zstd in the stdlib: pipe the tar through the zstd CLI.
                proc = subprocess.Popen(["zstd", "-q", "-c", "-3"], stdin=subprocess.PIPE, stdout=fh)

                def out(b):
                    diff.update(b)
                    proc.stdin.write(b)
                write_tar(entries, out)
                proc.stdin.close()
                if proc.wait() != 0:
                    raise RuntimeError("zstd failed")
            elif comp == "none":
                def out(b):
                    diff.update(b)
                    fh.write(b)
                write_tar(entries, out)
            else:
                raise ValueError(comp)
        h = hashlib.sha256()
        size = 0
        with open(tmp, "rb") as fh:
            while True:
                buf = fh.read(CHUNK)
                if not buf:
                    break
                h.update(buf)
                size += len(buf)
        os.replace(tmp, os.path.join(self.blobs, h.hexdigest()))
        desc = {"mediaType": MT_LAYER[comp], "digest": "sha256:" + h.hexdigest(), "size": size}
        res = (desc, "sha256:" + diff.hexdigest())
        self.layer_cache[key] = res
        return res

    def put_image(self, img):
        """Write layers, config and manifest; returns the manifest descriptor."""
        descs, diff_ids, history = [], [], []
        for ly in img["layers"]:
            desc, diff_id = self.put_layer(ly)
            descs.append(desc)
            diff_ids.append(diff_id)
            history.append({"created": CREATED, "created_by": "mkimage.py: " + (ly["comment"] or "layer")})
        cfg = {
            "created": CREATED,
            "architecture": img["arch"],
            "os": "linux",
            "config": img["config"],
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        if img["variant"]:
            cfg["variant"] = img["variant"]
        cdesc = self.put_bytes(canon(cfg), MT_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cdesc, "layers": descs}
        mdesc = self.put_bytes(canon(manifest), MT_MANIFEST)
        mdesc["platform"] = {"architecture": img["arch"], "os": "linux"}
        if img["variant"]:
            mdesc["platform"]["variant"] = img["variant"]
        return mdesc

    def put_attestation(self, subject):
        """A BuildKit-style attestation manifest for `subject` (a manifest
        descriptor): platform unknown/unknown, one in-toto layer."""
        stmt = canon({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{"name": "pkg:docker/drover-test/multi@latest?platform=linux%2Famd64",
                         "digest": {"sha256": subject["digest"].split(":", 1)[1]}}],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": "drover-test/multi", "packages": []},
        })
        ldesc = self.put_bytes(stmt, "application/vnd.in-toto+json")
        ldesc["annotations"] = {"in-toto.io/predicate-type": "https://spdx.dev/Document"}
        cfg = {"architecture": "unknown", "os": "unknown", "config": {},
               "rootfs": {"type": "layers", "diff_ids": [ldesc["digest"]]}}
        cdesc = self.put_bytes(canon(cfg), MT_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cdesc, "layers": [ldesc]}
        mdesc = self.put_bytes(canon(manifest), MT_MANIFEST)
        mdesc["platform"] = {"architecture": "unknown", "os": "unknown"}
        mdesc["annotations"] = {
            "vnd.docker.reference.digest": subject["digest"],
            "vnd.docker.reference.type": "attestation-manifest",
        }
        return mdesc

    def put_index(self, spec):
        manifests = [self.put_image(img) for img in spec["images"]]
        if spec.get("attest"):
            manifests.append(self.put_attestation(manifests[0]))
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
        return self.put_bytes(canon(index), MT_INDEX)

    def finish(self, tagged):
        refs = []
        for tag, desc in tagged:
            desc = {k: desc[k] for k in ("mediaType", "digest", "size")}
            desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
            refs.append(desc)
        with open(os.path.join(self.root, "oci-layout"), "wb") as fh:
            fh.write(canon({"imageLayoutVersion": "1.0.0"}))
        with open(os.path.join(self.root, "index.json"), "wb") as fh:
            fh.write(canon({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": refs}))
        with open(os.path.join(self.root, "refs"), "w") as fh:
            for r in refs:
                tag = r["annotations"]["org.opencontainers.image.ref.name"]
                fh.write(f"{tag} {r['digest']} {r['mediaType']}\n")


# ---------------------------------------------------------------------------
# Image contents.

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def busybox_entries():
    """/bin/busybox plus one symlink per applet, and a minimal /etc."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    out = [d("bin"), hostfile("bin/busybox", BUSYBOX, mode=0o755)]
    out += [sym("bin/" + a, "busybox") for a in sorted(set(applets)) if a != "busybox"]
    out += [
        d("dev"), d("etc"), f("etc/passwd", PASSWD), f("etc/group", GROUP),
        d("home"), d("proc"), d("root", 0o700), d("sys"), d("tmp", 0o1777),
        d("usr"), d("var"),
    ]
    return out


def busybox_layer(comp="gzip"):
    return layer(busybox_entries(), comp=comp, comment="busybox-static with applet links")


BUSYBOX_CONFIG = {"Env": [PATH_ENV], "Cmd": ["sh"]}


def host_path_entries(path):
    """Entries reproducing host `path` inside the image: symlinked parent
    directories (e.g. /lib64 -> usr/lib64 on merged-/usr Debian), the path
    itself, and, if it is a symlink, its target (recursively)."""
    out = []
    path = os.path.normpath(path)
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        p = "/" + "/".join(parts[:i])
        if os.path.islink(p):
            out.append(sym(p[1:], os.readlink(p)))
    real_parent = os.path.realpath(os.path.dirname(path))
    p = os.path.join(real_parent, os.path.basename(path))
    if os.path.islink(p):
        target = os.readlink(p)
        out.append(sym(p[1:], target))
        out += host_path_entries(os.path.join(real_parent, target))
    else:
        out.append(hostfile(p[1:], p))
    return out


def ldd_paths(binary):
    res = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in res.splitlines():
        words = line.split()
        if "=>" in words:
            i = words.index("=>")
            if i + 1 < len(words) and words[i + 1].startswith("/"):
                paths.append(words[i + 1])
        elif words and words[0].startswith("/"):
            paths.append(words[0])  # the loader
    return paths


def dedup(entries):
    seen, out = set(), []
    for e in entries:
        if e["name"] not in seen:
            seen.add(e["name"])
            out.append(e)
    return out


REDIS_ENTRYPOINT = r"""#!/bin/sh
# Modelled on the official redis image's docker-entrypoint.sh.
set -e

# first arg is `-f` or `--some-option`, or `something.conf`: run redis-server with them
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# started as root: give /data to the redis user and drop privileges
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find /data \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

exec "$@"
"""

REDIS_PASSWD = PASSWD + "redis:x:999:999::/data:/bin/sh\n"
REDIS_GROUP = GROUP + "redis:x:999:\n"
REDIS_CONF = "/usr/local/etc/redis/redis.conf"


def redis_conf(tag, maxmemory):
    return (
        f"# drover test image library/redis:{tag} (Debian's redis-server underneath);\n"
        "# the tags differ only in maxmemory: redis-cli CONFIG GET maxmemory tells them apart.\n"
        "bind 0.0.0.0\n"
        "protected-mode no\n"
        "port 6379\n"
        "dir /data\n"
        f"maxmemory {maxmemory}\n"
    )


def redis_spec():
    libs = ldd_paths(REDIS)
    is_base = ("ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so")
    base_libs, app_libs = [], []
    for p in libs:
        (base_libs if os.path.basename(p).startswith(is_base) else app_libs).append(p)
    base = busybox_entries()
    for p in base_libs:
        base += host_path_entries(p)
    app = host_path_entries(REDIS)
    for p in app_libs:
        app += host_path_entries(p)
    user = [
        f("etc/passwd", REDIS_PASSWD), f("etc/group", REDIS_GROUP),
        d("data", uid=999, gid=999),
        hostfile("usr/local/bin/gosu", GOSU, mode=0o755),
        f("usr/local/bin/docker-entrypoint.sh", REDIS_ENTRYPOINT, mode=0o755),
    ]
    layers = [
        layer(dedup(base), comment="base: busybox, libc and the loader"),
        layer(dedup(app), comment="redis-server and the libraries ldd lists"),
        layer(user, comment="redis user, /data, gosu, entrypoint"),
    ]
    config = {
        "Env": [PATH_ENV],
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["redis-server", REDIS_CONF],
        "WorkingDir": "/data",
        "ExposedPorts": {"6379/tcp": {}},
        "Volumes": {"/data": {}},
    }
    tags = {}
    for tag, maxmemory in (("3.2", "0"), ("4.0", "104857600")):
        conf = layer([f(REDIS_CONF.lstrip("/"), redis_conf(tag, maxmemory))], comment=f"redis.conf for {tag}")
        tags[tag] = image(layers + [conf], config)
    return {"tags": tags, "verify": verify_redis}


def app_spec():
    tags = {}
    for v in ("1", "2"):
        www = layer([d("www"), f("www/version", v)], comment=f"/www/version = {v}")
        tags[v] = image([busybox_layer(), www], {
            "Env": [PATH_ENV],
            "Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "ExposedPorts": {"8080/tcp": {}},
        })
    return {"tags": tags}


BIG_LAYERS = 5
BIG_LAYER_BYTES = 40 * 1000 * 1000


def big_spec():
    """~200 MB of real binaries (compresses like real images do), copied
    from /usr/lib/x86_64-linux-gnu in sorted order."""
    src_root = "/usr/lib/x86_64-linux-gnu"
    files = []
    for dirpath, dirnames, filenames in os.walk(src_root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= 16 * 1000 * 1000:
                files.append((p, st.st_size))
    layers, cur, size = [], [], 0
    for p, sz in files:
        if len(layers) == BIG_LAYERS:
            break
        rel = os.path.relpath(p, src_root)
        cur.append(hostfile(f"big/{len(layers) + 1}/{rel}", p, mode=0o644))
        size += sz
        if size >= BIG_LAYER_BYTES:
            layers.append(layer(cur, comment=f"big part {len(layers) + 1}"))
            cur, size = [], 0
    if len(layers) != BIG_LAYERS:
        raise RuntimeError(f"not enough files under {src_root} for the big image")
    return {"tags": {"latest": image(layers, {"Env": [PATH_ENV]})}}


# vfs_cap_data revision 2: effective flag + permitted CAP_NET_RAW (bit 13).
CAP_NET_RAW_EP = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)


def layers_spec():
    """Unpack semantics; layers-expected.json describes the correct result."""
    lower = layer([
        d("data"), d("data/dir-to-file"), f("data/dir-to-file/child", "child\n"),
        f("data/file-to-dir", "file\n"),
        f("data/orig", "original\n"), hardlink("data/orig-link", "data/orig"),
        f("data/replace-me", "v1\n"),
        d("etc"), f("etc/hostname-old", "old\n"), f("etc/keep", "keep\n"),
        d("opq"), f("opq/lower-a", "a\n"), d("opq/sub"), f("opq/sub/lower-b", "b\n"),
        d("wh-dir"), f("wh-dir/child", "c\n"),
    ], parents=False, comment="lower")
    # Explicit order: the opaque marker comes after a sibling of the same layer.
    middle = layer([
        d("etc"), f("etc/.wh.hostname-old"),
        f(".wh.wh-dir"),
        d("opq"), f("opq/new-sibling", "new\n"), f("opq/.wh..wh..opq"),
        d("links"), sym("links/rel", "../etc/keep"), sym("links/abs", "/etc/keep"),
        d("dev"), chardev("dev/mynull", 1, 3, mode=0o666),
        d("run"), fifo("run/myfifo", mode=0o640),
        d("usr"), d("usr/bin"), f("usr/bin/suid", "#!/bin/sh\necho suid\n", mode=0o4755),
        d("owned", mode=0o2775, uid=1234, gid=5678),
        f("owned/by-1234", "owned\n", mode=0o640, uid=1234, gid=5678),
        d("xattr"),
        f("xattr/user", "user xattr\n", xattrs={"user.drover": b"test"}),
        f("xattr/cap", "cap\n", mode=0o755, xattrs={"security.capability": CAP_NET_RAW_EP}),
        d("times", mtime=T_DIR), f("times/file", "time\n", mtime=T_FILE),
    ], sort=False, parents=False, comment="middle: whiteouts, opaque dir, special files")
    top = layer([
        d("data"), f("data/dir-to-file", "now a file\n"),
        d("data/file-to-dir"), f("data/file-to-dir/inner", "inner\n"),
        f("data/top-file", "top\n"), hardlink("data/top-link", "data/top-file"),
        f("data/replace-me", "v3\n"),
    ], parents=False, comment="top: replacements and a hardlink within the layer")
    return {"tags": {"latest": image([lower, middle, top], {})}, "verify": verify_layers}


def zstd_spec():
    return {"tags": {"latest": image([busybox_layer("zstd")], BUSYBOX_CONFIG)}}


def plain_spec():
    return {"tags": {"latest": image([busybox_layer("none")], BUSYBOX_CONFIG)}}


def busybox_spec():
    img = image([busybox_layer()], BUSYBOX_CONFIG)
    return {"tags": {"latest": img, "1.35": img}}


def multi_spec():
    imgs = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        plat = layer([f("platform", arch)], comment=f"/platform = {arch}")
        imgs.append(image([busybox_layer(), plat], BUSYBOX_CONFIG, arch=arch, variant=variant))
    return {"tags": {"latest": {"images": imgs, "attest": True}}}


def hostile(*top_layers):
    """A busybox image with hostile layers on top (entries kept as given)."""
    layers = [busybox_layer()] + [layer(t, sort=False, parents=False, comment="hostile") for t in top_layers]
    return {"tags": {"latest": image(layers, BUSYBOX_CONFIG)}}


ESCAPED = "if you can read this outside a container rootfs, an unpacker escaped\n"

SPECS = {
    "busybox": busybox_spec,
    "redis": redis_spec,
    "app": app_spec,
    "big": big_spec,
    "layers": layers_spec,
    "zstd": zstd_spec,
    "plain": plain_spec,
    "multi": multi_spec,
    "hostile-dotdot": lambda: hostile([f("../../../../tmp/drover-escape-dotdot", ESCAPED)]),
    "hostile-abs": lambda: hostile([f("/tmp/drover-escape-abs", ESCAPED)]),
    "hostile-symlink-write": lambda: hostile([sym("evil", "/tmp"), f("evil/drover-escape-symlink", ESCAPED)]),
    "hostile-hardlink-out": lambda: hostile([hardlink("h", "../../../../etc/passwd")]),
    # CVE-2021-29136: the rootfs root itself replaced by a symlink, then written through.
    "hostile-root-symlink": lambda: hostile([sym(".", "/tmp/drover-escape-root")], [d("etc"), f("etc/x", ESCAPED)]),
    # 2 GiB of zeros in one file; the gzip blob is ~2 MB.
    "hostile-bomb": lambda: hostile([zeros("bomb", 2 << 30)]),
    # Runtime hostiles (tests/container_run.rs): a busybox image whose top layer turns a
    # path the runtime mounts on or binds from into a symlink aimed at the host.
    # CVE-2019-19921: /proc a symlink, so procfs would be mounted elsewhere.
    "evil-proc": lambda: hostile([sym("proc", "/tmp/drover-test-fakeproc"),
                                  d("tmp/drover-test-fakeproc"), f("tmp/drover-test-fakeproc/fake", ESCAPED)]),
    # CVE-2025-31133: masking must not bind whatever the image's /dev/null points at.
    "evil-devnull": lambda: hostile([d("dev"), sym("dev/null", "/proc/sys/kernel/core_pattern")]),
    # CVE-2026-41579: /dev a symlink to a host directory.
    "evil-dev": lambda: hostile([sym("dev", "/tmp/drover-test-hostdev")]),
    # A bind-mount target (/etc/hosts) that is a symlink into procfs (CVE-2025-52881 class).
    "evil-hosts": lambda: hostile([d("etc"), sym("etc/hosts", "/proc/sys/kernel/core_pattern")]),
}
# Slowest first so the process pool overlaps them.
ORDER = ["hostile-bomb", "big", "redis"] + [k for k in SPECS if k not in ("hostile-bomb", "big", "redis")]


# ---------------------------------------------------------------------------
# Verification of built images by unpacking them with umoci.

def umoci_unpack(layout, tag, dest):
    subprocess.run(["umoci", "--log", "error", "unpack", "--image", f"{layout}:{tag}", dest],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(dest, "rootfs")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_redis(layout, tags):
    """Unpack each tag and run it in a chroot through its entrypoint (gosu
    drops to uid 999); check the maxmemory the config sets."""
    want = {"3.2": "0", "4.0": "104857600"}
    for tag in tags:
        with tempfile.TemporaryDirectory(prefix="drover-redis-") as tmp:
            rootfs = umoci_unpack(layout, tag, os.path.join(tmp, "bundle"))
            ver = subprocess.run(["chroot", rootfs, "/usr/bin/redis-server", "--version"],
                                 check=True, capture_output=True, text=True).stdout
            if not ver.startswith("Redis server"):
                raise RuntimeError(f"redis:{tag}: unexpected --version output {ver!r}")
            probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc=" + rootfs + "/proc",
                                    "true"], capture_output=True)
            if probe.returncode != 0:
                print(f"redis:{tag}: cannot unshare here ({probe.stderr.decode().strip()}); "
                      "checked --version only, not a run through gosu", file=sys.stderr)
                continue
            port = str(free_port())
            env = {"PATH": PATH_ENV.split("=", 1)[1], "HOME": "/data"}
            # gosu needs /proc: run in private mount and pid namespaces with
            # a fresh /proc, so nothing is left mounted when it exits.
            proc = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc=" + rootfs + "/proc",
                 "chroot", rootfs, "/bin/sh", "-c", 'cd /data && exec docker-entrypoint.sh "$@"', "sh",
                 "redis-server", REDIS_CONF, "--port", port, "--bind", "127.0.0.1"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                got = None
                for _ in range(100):
                    r = subprocess.run(["redis-cli", "-p", port, "CONFIG", "GET", "maxmemory"],
                                       capture_output=True, text=True)
                    if r.returncode == 0 and r.stdout.split()[:1] == ["maxmemory"]:
                        got = r.stdout.split()[1]
                        break
                    time.sleep(0.05)
                # SAVE writes /data/dump.rdb as the server's uid: shows gosu dropped to redis.
                subprocess.run(["redis-cli", "-p", port, "SAVE"], capture_output=True)
                dump = os.path.join(rootfs, "data", "dump.rdb")
                uid = os.stat(dump).st_uid if os.path.exists(dump) else None
                subprocess.run(["redis-cli", "-p", port, "SHUTDOWN", "NOSAVE"], capture_output=True)
                proc.wait(timeout=10)
            finally:
                if proc.poll() is None:
                    # unshare ignores SIGTERM while it waits; --kill-child
                    # passes its death on to the server.
                    proc.kill()
                    proc.wait()
            if got != want[tag] or uid != 999:
                raise RuntimeError(f"redis:{tag}: maxmemory={got} uid={uid}, want {want[tag]} and 999")


def verify_layers(layout, tags):
    with tempfile.TemporaryDirectory(prefix="drover-layers-") as tmp:
        rootfs = umoci_unpack(layout, "latest", os.path.join(tmp, "bundle"))
        problems = check_tree(rootfs, LAYERS_EXPECTED)
        if problems:
            # umoci is a reference, not the spec: report, do not fail the build.
            print("layers: umoci's unpack differs from layers-expected.json:\n  " + "\n  ".join(problems),
                  file=sys.stderr)


# ---------------------------------------------------------------------------
# check-tree: compare an unpacked rootfs with an expectation file.

def scan(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            e = {"uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime),
                 "mode": format(stat.S_IMODE(st.st_mode), "04o"), "ino": st.st_ino, "nlink": st.st_nlink}
            m = st.st_mode
            if stat.S_ISDIR(m):
                e["type"] = "dir"
            elif stat.S_ISREG(m):
                e["type"] = "file"
                with open(p, "rb") as fh:
                    data = fh.read()
                e["sha256"] = hashlib.sha256(data).hexdigest()
                try:
                    e["content"] = data.decode()
                except UnicodeDecodeError:
                    pass
            elif stat.S_ISLNK(m):
                e["type"] = "symlink"
                e["target"] = os.readlink(p)
            elif stat.S_ISCHR(m):
                e["type"] = "char"
                e["major"], e["minor"] = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISBLK(m):
                e["type"] = "block"
            elif stat.S_ISFIFO(m):
                e["type"] = "fifo"
            else:
                e["type"] = "other"
            xattrs = {}
            if not stat.S_ISLNK(m):
                for k in os.listxattr(p, follow_symlinks=False):
                    v = os.getxattr(p, k, follow_symlinks=False)
                    try:
                        xattrs[k] = v.decode("ascii") if v.isascii() and b"\0" not in v else "hex:" + v.hex()
                    except UnicodeDecodeError:
                        xattrs[k] = "hex:" + v.hex()
            e["xattrs"] = xattrs
            out[rel] = e
    return out


def check_tree(root, expected_path):
    with open(expected_path) as fh:
        exp = json.load(fh)
    got = scan(root)
    problems = []
    want = exp["entries"]
    for p in sorted(set(got) - set(want)):
        problems.append(f"{p}: unexpected entry ({got[p]['type']})")
    for p in exp.get("absent", []):
        if p in got:
            problems.append(f"{p}: should be absent")
    groups = {}
    for p, w in sorted(want.items()):
        g = got.get(p)
        if g is None:
            problems.append(f"{p}: missing")
            continue
        for k, v in w.items():
            if k == "xattrs":
                for xk, xv in v.items():
                    if g["xattrs"].get(xk) != xv:
                        problems.append(f"{p}: xattr {xk} = {g['xattrs'].get(xk)!r}, want {xv!r}")
            elif k == "link_group":
                groups.setdefault(v, set()).add(g["ino"])
            elif k == "mode" and w["type"] == "symlink":
                continue
            elif g.get(k) != v:
                problems.append(f"{p}: {k} = {g.get(k)!r}, want {v!r}")
    for name, inos in groups.items():
        if len(inos) != 1:
            problems.append(f"hardlink group {name}: entries are not one inode")
    return problems


# ---------------------------------------------------------------------------

def build(lid, outroot):
    t0 = time.time()
    spec = SPECS[lid]()
    fp = fingerprint(spec)
    out = os.path.join(outroot, lid)
    try:
        with open(os.path.join(out, "fingerprint")) as fh:
            if fh.read().strip() == fp:
                return lid, "up to date", time.time() - t0
    except FileNotFoundError:
        pass
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    lay = Layout(tmp)
    tagged = []
    for tag, img in spec["tags"].items():
        tagged.append((tag, lay.put_index(img) if "images" in img else lay.put_image(img)))
    lay.finish(tagged)
    if spec.get("verify"):
        spec["verify"](tmp, list(spec["tags"]))
    with open(os.path.join(tmp, "fingerprint"), "w") as fh:
        fh.write(fp + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return lid, "built", time.time() - t0


def main(argv):
    if len(argv) >= 2 and argv[1] == "list":
        print("\n".join(SPECS))
        return 0
    if len(argv) == 4 and argv[1] == "check-tree":
        problems = check_tree(argv[2], argv[3])
        for p in problems:
            print(p)
        return 1 if problems else 0
    if len(argv) >= 3 and argv[1] == "build":
        outroot = argv[2]
        ids = argv[3:] or ORDER
        unknown = [i for i in ids if i not in SPECS]
        if unknown:
            print(f"unknown image ids: {unknown}", file=sys.stderr)
            return 2
        os.makedirs(outroot, exist_ok=True)
        failed = False
        with concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            futs = {pool.submit(build, i, outroot): i for i in ids}
            for fut in concurrent.futures.as_completed(futs):
                try:
                    lid, what, secs = fut.result()
                    if what != "up to date":
                        print(f"mkimage: {lid}: {what} in {secs:.1f}s", file=sys.stderr)
                except Exception as exc:  # report every failure, then fail
                    failed = True
                    print(f"mkimage: {futs[fut]}: FAILED: {exc}", file=sys.stderr)
        return 1 if failed else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
