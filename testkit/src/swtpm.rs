//! A software TPM for tests: `swtpm` manufactured by `swtpm_setup` in a temporary directory,
//! listening on a free pair of 127.0.0.1 ports, driven by `tpm2-tools` over the `swtpm` TCTI,
//! and stopped by its own PID when dropped.
//!
//! The temporary directory holds `state/` (the TPM state), `w/` (the working directory of every
//! tool run, see [`Swtpm::work`]) and, for [`Swtpm::start`], `ca/` (the local CA that signed the
//! EK certificates, with `issuercert.pem` and `swtpm-localca-rootca-cert.pem`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Run, run_bounded};

/// How long one `tpm2-tools` run may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `swtpm_setup` may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running swtpm with its state in a temporary directory, stopped by PID on drop.
pub struct Swtpm {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// A port `p` such that `p` and `p + 1` were both free on 127.0.0.1 just now.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = a.local_addr().expect("addr").port();
        if p < 65535 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free pair of ports on 127.0.0.1");
}

impl Swtpm {
    /// A TPM manufactured with RSA and ECC EKs and their certificates in NV (signed by a local
    /// CA kept in the temporary directory's `ca/`), and SHA-1 and SHA-256 PCR banks.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["ca", "state", "w"] {
            std::fs::create_dir(d.join(sub)).expect("dir");
        }
        let ca = d.join("ca");
        std::fs::write(
            d.join("swtpm-localca.conf"),
            format!(
                "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
                ca = ca.display()
            ),
        )
        .expect("localca conf");
        std::fs::write(
            d.join("swtpm_setup.conf"),
            format!(
                "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n",
                d.join("swtpm-localca.conf").display()
            ),
        )
        .expect("setup conf");
        let state = d.join("state");
        let config = d.join("swtpm_setup.conf");
        Self::setup(
            d,
            &[
                "--tpm2",
                "--tpmstate",
                state.to_str().expect("utf-8 path"),
                "--create-ek-cert",
                "--ecc",
                "--pcr-banks",
                "sha1,sha256",
                "--config",
                config.to_str().expect("utf-8 path"),
            ],
        );
        Self::listen(dir)
    }

    /// A TPM with a SHA-256 PCR bank only and no EK certificates (so no local CA, and nothing
    /// written under `/var/lib`).
    pub fn start_without_ek_certs() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["state", "w"] {
            std::fs::create_dir(d.join(sub)).expect("dir");
        }
        let state = d.join("state");
        Self::setup(
            d,
            &[
                "--tpm2",
                "--tpmstate",
                state.to_str().expect("utf-8 path"),
                "--pcr-banks",
                "sha256",
            ],
        );
        Self::listen(dir)
    }

    fn setup(dir: &Path, args: &[&str]) {
        let setup = run_bounded(Command::new("swtpm_setup").args(args), dir, SETUP_TIMEOUT);
        assert!(setup.ok, "swtpm_setup failed: {}", setup.stderr);
    }

    /// Start `swtpm socket` on the manufactured state, trying up to three port pairs.
    fn listen(dir: tempfile::TempDir) -> Self {
        let state = dir.path().join("state");
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port_pair();
            let mut child = Command::new("swtpm")
                .args([
                    "socket",
                    "--tpm2",
                    "--server",
                    &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
                    "--ctrl",
                    &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
                    "--tpmstate",
                    &format!("dir={}", state.display()),
                    "--flags",
                    "not-need-init,startup-clear",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting swtpm (install the Debian package `swtpm`)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { dir, child, port };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("swtpm exited: {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = "swtpm did not listen within 10 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start swtpm: {last}");
    }

    /// The temporary directory (holding `state/`, `w/` and, with EK certificates, `ca/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TPM command port on 127.0.0.1 (the control port is the next one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `TPM2TOOLS_TCTI` value that reaches this TPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The working directory every tool runs in.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("w")
    }

    /// The path of `name` in the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work().join(name)
    }

    /// Read `name` from the working directory; panics when it cannot.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// Write `name` in the working directory; panics when it cannot.
    pub fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.path(name), data).expect("writing");
    }

    /// Run the tool `args[0]` with `args[1..]` against this TPM (bounded by [`TOOL_TIMEOUT`]),
    /// then flush the transient objects it left (there is no resource manager); the flush must
    /// succeed, the tool may fail.
    pub fn try_tool(&self, args: &[&str]) -> Run {
        let tcti = self.tcti();
        let r = run_bounded(
            Command::new(args[0])
                .args(&args[1..])
                .env("TPM2TOOLS_TCTI", &tcti),
            &self.work(),
            TOOL_TIMEOUT,
        );
        let f = run_bounded(
            Command::new("tpm2_flushcontext")
                .arg("-t")
                .env("TPM2TOOLS_TCTI", &tcti),
            &self.work(),
            TOOL_TIMEOUT,
        );
        assert!(f.ok, "tpm2_flushcontext: {}", f.stderr);
        r
    }

    /// [`Swtpm::try_tool`], panicking with the tool's stderr unless it succeeded; returns its
    /// stdout.
    pub fn tool(&self, args: &[&str]) -> Vec<u8> {
        let r = self.try_tool(args);
        assert!(r.ok, "{} failed: {}", args.join(" "), r.stderr);
        r.stdout
    }

    /// `tpm2_createek -G rsa`: the RSA EK, saved as `ek.ctx` with its public area in `ek.pub`.
    pub fn create_rsa_ek(&self) {
        self.tool(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
    }

    /// `tpm2_createak` under the EK context `ek_ctx` with key type `key` (`rsa`, `ecc256`, ...),
    /// SHA-256 and signing scheme `scheme`: writes `ak.ctx`, `ak.pub`, `ak.name` and `ak.priv`.
    pub fn create_ak(&self, ek_ctx: &str, key: &str, scheme: &str) {
        self.tool(&[
            "tpm2_createak",
            "-C",
            ek_ctx,
            "-c",
            "ak.ctx",
            "-G",
            key,
            "-g",
            "sha256",
            "-s",
            scheme,
            "-u",
            "ak.pub",
            "-n",
            "ak.name",
            "-r",
            "ak.priv",
        ]);
    }

    /// Run `openssl` in the working directory (see [`crate::openssl`]).
    pub fn openssl(&self, args: &[&str]) -> Vec<u8> {
        crate::openssl(&self.work(), args)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        // Stopped by its own PID (the child handle), never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
