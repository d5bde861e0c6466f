{
  "targets": [
    {
      "target_name": "fp8kit",
      "sources": ["<!@(node scripts/sources.cjs <(target_arch) <(OS))"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags": ["-O3", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti"],
      "libraries": ["-ldl", "-lpthread"],
      "conditions": [
        ["OS=='linux'", {
          "cflags": ["-include", "<(module_root_dir)/native/addon/glibc_floor.h"],
          "ldflags": ["<!@(node scripts/static-cxx.cjs)"]
        }]
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_ENABLE_CPP_RTTI": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"]
      }
    }
  ]
}
