//! Builds the sandbox's clock library for subprocesses (`preload/sandbox_clock.c`) with the
//! C compiler the `cc` crate finds for the target (the one Rust's linker uses), into
//! `OUT_DIR/libsandbox_clock.so`, which the runtime embeds.
//!
//! Lets `cargo build` link libseccomp on a machine that has only the runtime library
//! (`libseccomp.so.2`, always installed on Debian/Ubuntu/Fedora) and not the development
//! symlink `libseccomp.so` (from libseccomp-dev). libseccomp-sys asks the linker for
//! `-lseccomp`; when no `libseccomp.so` is on the linker's path, this script points a
//! `libseccomp.so` symlink in OUT_DIR at the runtime library and adds that directory to
//! the link search path (which cargo passes on to every binary that depends on this
//! crate). `LIBSECCOMP_LIB_PATH` / `LIBSECCOMP_LINK_TYPE` (libseccomp-sys's own settings)
//! take precedence.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    build_clock_library();
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LINK_TYPE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux"
        || std::env::var_os("LIBSECCOMP_LIB_PATH").is_some()
        || std::env::var("LIBSECCOMP_LINK_TYPE").is_ok_and(|t| t == "static")
    {
        return;
    }
    let dirs = library_dirs();
    if dirs.iter().any(|d| d.join("libseccomp.so").exists()) {
        return;
    }
    let Some(runtime) = dirs
        .iter()
        .map(|d| d.join("libseccomp.so.2"))
        .find(|p| p.exists())
    else {
        println!(
            "cargo:warning=libseccomp not found: install the libseccomp2 package \
             (or libseccomp-dev), or set LIBSECCOMP_LIB_PATH"
        );
        return;
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("lib");
    std::fs::create_dir_all(&out).expect("creating OUT_DIR/lib");
    let link = out.join("libseccomp.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&runtime, &link).expect("linking libseccomp.so");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rerun-if-changed={}", runtime.display());
}

/// `cc -shared -fPIC -O2 preload/sandbox_clock.c -o $OUT_DIR/libsandbox_clock.so`.
fn build_clock_library() {
    const SOURCE: &str = "preload/sandbox_clock.c";
    println!("cargo:rerun-if-changed={SOURCE}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let library = out.join("libsandbox_clock.so");
    let compiler = cc::Build::new()
        .opt_level(2)
        .pic(true)
        .warnings(true)
        .get_compiler();
    let mut command = compiler.to_command();
    command
        .args(["-shared", "-Wall", "-Wextra", "-o"])
        .arg(&library)
        .arg(SOURCE)
        .args(["-Wl,--as-needed", "-ldl", "-s"]);
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running the C compiler ({command:?}): {e}"));
    assert!(
        status.success(),
        "building the clock library failed: {command:?} ({status})"
    );
}

/// The directories the linker searches for system libraries, most specific first.
fn library_dirs() -> Vec<PathBuf> {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let multiarch = format!("{arch}-linux-{env}");
    let mut dirs: Vec<PathBuf> = [
        format!("/usr/lib/{multiarch}"),
        format!("/lib/{multiarch}"),
        "/usr/lib64".into(),
        "/lib64".into(),
        "/usr/lib".into(),
        "/lib".into(),
        "/usr/local/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    // Anything else the dynamic loader knows of (e.g. a distribution's own layout).
    if let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((_, path)) = line.split_once("=> ") {
                if path.contains("libseccomp.so") {
                    if let Some(dir) = Path::new(path.trim()).parent() {
                        dirs.push(dir.to_owned());
                    }
                }
            }
        }
    }
    dirs
}
