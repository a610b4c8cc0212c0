# The userspace engine's Node-API addon. Built by build.sh (node-gyp --nodedir=/usr), which passes
# -Dsysroot=<cache>/sysroot: sid's UAPI headers and liburing 2.15 fetched by scripts/deps.sh build.
# The sysroot's headers come in with -isystem: searched before /usr/include, and quiet about the RWF_*
# macros that both glibc's and the newer kernel's headers define.
{
  "variables": { "sysroot%": "../../.cache/uringbpf/sysroot" },
  "targets": [
    {
      "target_name": "uring",
      "sources": ["uring.c"],
      "libraries": ["<(sysroot)/usr/lib/x86_64-linux-gnu/liburing.a", "-lpthread"],
      "cflags": ["-isystem", "<(sysroot)/usr/include", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
