# The userspace engine's Node-API addon. uring.c carries the io_uring definitions it needs and makes the
# system calls itself, so it needs nothing but a C compiler and Node's headers (node-gyp provides them).
# Built by build.sh (scripts/deps.sh in a checkout, `npm pack`'s prepack for the prebuilt copy).
{
  "targets": [
    {
      "target_name": "uring",
      "sources": ["uring.c"],
      "libraries": ["-lpthread"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
