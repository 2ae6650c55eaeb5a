//! `admitd`: the admit reference server, and `admitd inspect` for PEM/DER blobs.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The admit reference server.
#[derive(Debug, Parser)]
#[command(name = "admitd", version, about)]
struct Cli {
    #[command(flatten)]
    flags: admitd::config::Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Describe a certificate, CSR, CMS SignedData/EnvelopedData (PEM or DER), ADE server token,
    /// ADE JSON body, MDM plist or signed MDM blob (profile, MachineInfo, OTA phase 2) as JSON.
    Inspect {
        /// The file to read; `-` reads standard input.
        file: PathBuf,
        /// Treat the file as a device auth request body with this X-MEN-Signature value.
        #[arg(long, value_name = "BASE64")]
        signature: Option<String>,
        /// A key file: the public key (PKIX PEM) that verifies a device JWT (default: the data
        /// directory's), or the PKCS#8 PEM private key that opens a SCEP pkiMessage's envelope
        /// (the RA key for a request, the requester's key for a CertRep), or the MDM server's
        /// private key (PKCS#8 or PKCS#1 PEM) that decrypts an ADE server token (.p7m).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// PEM trust anchors for signed MDM material (signed profiles, MachineInfo, OTA phase
        /// 2): with it, the signer's path to one of them is validated; without it, only the
        /// signature is checked and trust is reported as not established.
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
        /// Force a TPM or attestation format (TPMS_ATTEST, TPM2B_PUBLIC, TPMT_SIGNATURE, ...).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<admitd::attest::inspect::Kind>,
    },
    /// Hardware attestation evidence.
    #[command(subcommand)]
    Attest(admitd::attest::Command),
    /// Automated Device Enrollment (Apple Business Manager): key pair and server token.
    Ade {
        #[command(subcommand)]
        command: AdeCommand,
    },
    /// Apple MDM administration, through the running server's admin API.
    Mdm {
        /// The server's HTTPS base URL (default: the configured HTTPS address).
        #[arg(long, value_name = "URL", global = true)]
        server: Option<String>,
        #[command(subcommand)]
        command: MdmCommand,
    },
    /// SCEP administration.
    Scep {
        #[command(subcommand)]
        command: ScepCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdeCommand {
    /// Make the key pair and the certificate to upload to Apple Business Manager (written to
    /// the data directory's ade/; an existing pair is kept) and print the certificate's path.
    Keypair,
    /// ADE server tokens.
    Token {
        #[command(subcommand)]
        command: AdeTokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdeTokenCommand {
    /// Decrypt a server token (.p7m from Apple Business Manager) with the ade/ key and store
    /// it, secrets sealed; a token already stored under the same name is replaced.
    Import {
        /// The downloaded `*_Token_*_smime.p7m`.
        file: PathBuf,
        /// The name the sync and the admin API use for it.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum MdmCommand {
    /// Issue an enrollment invite and print it with its URLs (JSON).
    Invite {
        /// The owner (email) enrolled devices will belong to.
        #[arg(long)]
        owner: Option<String>,
        /// How many devices may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// How long it stays valid, in seconds (default: the config's `mdm.invite_ttl_s`).
        #[arg(long, value_name = "SECONDS")]
        ttl_s: Option<u64>,
    },
    /// List enrolled devices (JSON).
    Devices {
        /// Only devices in this state: pending, enrolled or checked_out.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one device with its facts (JSON).
    Device {
        /// Its UDID (or enrollment ID).
        id: String,
    },
    /// Queue a command for devices and push them: `--json '{"RequestType": ...}'` or
    /// `--plist FILE`.
    Send {
        /// A channel to send it to (repeat for more).
        #[arg(long = "channel", required = true)]
        channels: Vec<String>,
        /// The command as JSON (checked against Apple's schema).
        #[arg(long, conflicts_with = "plist")]
        json: Option<String>,
        /// The command as a plist file.
        #[arg(long)]
        plist: Option<PathBuf>,
    },
    /// Show a command's status and results (JSON).
    Command {
        /// Its CommandUUID.
        uuid: String,
    },
    /// Push a device now (APNs), so it checks in.
    Push {
        /// Its UDID (or enrollment ID).
        id: String,
    },
    /// Show a device's latest push results, newest first (JSON).
    Pushes {
        /// Its UDID (or enrollment ID).
        id: String,
    },
    /// The APNs push certificate (in the data directory; the server need not run).
    #[command(subcommand)]
    PushCert(PushCertCommand),
}

#[derive(Debug, Subcommand)]
enum PushCertCommand {
    /// Check and store a push certificate: a `.p12` (certificate and key), or a PEM
    /// certificate with `--key`. The running server uses it from its next APNs connection.
    Import {
        /// The `.p12`, or the PEM certificate (chain after it, if any).
        file: PathBuf,
        /// The `.p12` password (default: empty).
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
        /// The private key, PKCS#8 PEM, for a PEM certificate.
        #[arg(long, value_name = "KEYFILE")]
        key: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ScepCommand {
    /// Store a new one-time challenge password in the data directory's database and print it.
    Challenge {
        /// How long the challenge stays valid, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// List requests held for approval (one JSON object per line).
    Pending,
    /// Approve a held request: the client's next poll gets its certificate.
    Approve {
        /// Its transactionID.
        transaction_id: String,
    },
    /// Reject a held request: the client's next poll gets FAILURE.
    Reject {
        /// Its transactionID.
        transaction_id: String,
        /// Why, for the client's failInfoText.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke a certificate issued over SCEP: it can no longer renew.
    Revoke {
        /// Its serial number in hex (as `openssl x509 -serial` prints it).
        serial: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Inspect {
            file,
            signature,
            key,
            root,
            kind,
        }) => inspect(
            &file,
            signature.as_deref(),
            key.as_deref(),
            root.as_deref(),
            kind,
            &cli.flags,
        ),
        Some(Command::Attest(command)) => admitd::attest::run(command),
        Some(Command::Ade { command }) => ade(&cli.flags, command),
        Some(Command::Scep {
            command: ScepCommand::Challenge { ttl_secs },
        }) => scep_challenge(&cli.flags, ttl_secs),
        Some(Command::Scep {
            command: ScepCommand::Revoke { serial },
        }) => scep_revoke(&cli.flags, &serial),
        Some(Command::Scep {
            command: ScepCommand::Pending,
        }) => scep_admin(&cli.flags, |dir| {
            for p in admitd::scep::pending(dir)? {
                println!(
                    "{}",
                    serde_json::json!({
                        "transactionID": p.transaction_id,
                        "subject": p.subject,
                        "status": p.status,
                        "reason": p.reason,
                        "createdAt": p.created_at,
                    })
                );
            }
            Ok(())
        }),
        Some(Command::Scep {
            command: ScepCommand::Approve { transaction_id },
        }) => scep_admin(&cli.flags, |dir| {
            admitd::scep::decide_pending(dir, &transaction_id, true, None)
        }),
        Some(Command::Scep {
            command:
                ScepCommand::Reject {
                    transaction_id,
                    reason,
                },
        }) => scep_admin(&cli.flags, |dir| {
            admitd::scep::decide_pending(dir, &transaction_id, false, reason.as_deref())
        }),
        Some(Command::Mdm { server, command }) => mdm(&cli.flags, server.as_deref(), command),
        Some(Command::Serve) | None => serve(&cli.flags),
    }
}

fn push_cert_import(
    config: &admitd::config::Config,
    file: &std::path::Path,
    password: Option<&str>,
    key: Option<&std::path::Path>,
) -> ExitCode {
    let Some(provider) = pki::provider::by_name(&config.crypto_provider) else {
        eprintln!(
            "admitd: crypto provider {:?} is not compiled in",
            config.crypto_provider
        );
        return ExitCode::from(2);
    };
    match admitd::mdm::push::cert::import(
        &config.data_dir,
        file,
        password,
        key,
        provider,
        std::time::SystemTime::now(),
    ) {
        Ok(identity) => {
            println!("{}", identity.describe());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("admitd mdm push-cert import: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn ade(flags: &admitd::config::Flags, command: AdeCommand) -> ExitCode {
    let config = match admitd::config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("admitd: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(provider) = pki::provider::by_name(&config.crypto_provider) else {
        eprintln!(
            "admitd: crypto provider {:?} is not compiled in",
            config.crypto_provider
        );
        return ExitCode::from(2);
    };
    let result = match command {
        AdeCommand::Keypair => {
            admitd::ade::keypair(&config.data_dir, provider).map(|(cert, created)| {
                if !created {
                    eprintln!("admitd ade: the key pair exists already; kept");
                }
                println!("{}", cert.display());
            })
        }
        AdeCommand::Token {
            command: AdeTokenCommand::Import { file, name },
        } => std::fs::read(&file)
            .map_err(|source| {
                admitd::ade::Error::DataDir(admitd::data_dir::Error::Io {
                    path: file.clone(),
                    source,
                })
            })
            .and_then(|p7m| {
                let database = config
                    .database
                    .as_ref()
                    .map(admitd::config::DatabaseUrl::expose);
                let store = admitd::ade::open_store(&config.data_dir, database)?;
                admitd::ade::import_token(&config.data_dir, &*store, &p7m, &name, provider)
            })
            .map(|t| {
                println!(
                    "{}",
                    serde_json::json!({
                        "name": t.name,
                        "consumer_key": t.consumer_key,
                        "access_token_expiry": t.access_token_expiry,
                    })
                );
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admitd ade: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scep_challenge(flags: &admitd::config::Flags, ttl_secs: u64) -> ExitCode {
    let ttl = std::time::Duration::from_secs(ttl_secs);
    scep_admin(flags, |target| {
        println!("{}", admitd::scep::new_challenge(target, ttl)?);
        Ok(())
    })
}

fn scep_admin(
    flags: &admitd::config::Flags,
    run: impl FnOnce(admitd::scep::AdminTarget<'_>) -> Result<(), admitd::scep::AdminError>,
) -> ExitCode {
    let config = match admitd::config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("admitd: {e}");
            return ExitCode::from(2);
        }
    };
    let target = admitd::scep::AdminTarget {
        data_dir: &config.data_dir,
        database: config
            .database
            .as_ref()
            .map(admitd::config::DatabaseUrl::expose),
    };
    match run(target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admitd scep: {e}");
            ExitCode::FAILURE
        }
    }
}

fn mdm(flags: &admitd::config::Flags, server: Option<&str>, command: MdmCommand) -> ExitCode {
    use serde_json::json;
    let config = match admitd::config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("admitd: {e}");
            return ExitCode::from(2);
        }
    };
    let (method, path, body) = match command {
        MdmCommand::Invite { owner, uses, ttl_s } => (
            "POST",
            "/api/v1/mdm/invites".to_owned(),
            Some(json!({"owner": owner, "uses": uses, "ttl_s": ttl_s})),
        ),
        MdmCommand::Devices { state } => (
            "GET",
            match state {
                Some(s) => format!("/api/v1/mdm/devices?state={s}"),
                None => "/api/v1/mdm/devices".to_owned(),
            },
            None,
        ),
        MdmCommand::Device { id } => ("GET", format!("/api/v1/mdm/devices/{id}"), None),
        MdmCommand::Command { uuid } => ("GET", format!("/api/v1/mdm/commands/{uuid}"), None),
        MdmCommand::Push { id } => ("POST", format!("/api/v1/mdm/devices/{id}/push"), None),
        MdmCommand::Pushes { id } => ("GET", format!("/api/v1/mdm/devices/{id}/pushes"), None),
        MdmCommand::PushCert(PushCertCommand::Import {
            file,
            password,
            key,
        }) => {
            return push_cert_import(&config, &file, password.as_deref(), key.as_deref());
        }
        MdmCommand::Send {
            channels,
            json: j,
            plist,
        } => {
            let body = match (j, plist) {
                (Some(j), None) => match serde_json::from_str::<serde_json::Value>(&j) {
                    Ok(cmd) => json!({"channels": channels, "command": cmd}),
                    Err(e) => {
                        eprintln!("admitd mdm send: --json is not JSON: {e}");
                        return ExitCode::from(2);
                    }
                },
                (None, Some(p)) => match std::fs::read_to_string(&p) {
                    Ok(x) => json!({"channels": channels, "plist": x}),
                    Err(e) => {
                        eprintln!("admitd mdm send: {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                },
                _ => {
                    eprintln!("admitd mdm send: give --json or --plist");
                    return ExitCode::from(2);
                }
            };
            ("POST", "/api/v1/mdm/commands".to_owned(), Some(body))
        }
    };
    let token = match admitd::api_client::admin_token(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("admitd mdm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = admitd::api_client::server_url(&config, server);
    match admitd::api_client::call(&config.data_dir, &url, &token, method, &path, body.as_ref()) {
        Ok((status, answer)) => {
            println!("{answer}");
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("admitd mdm: the server answered {status}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("admitd mdm: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scep_revoke(flags: &admitd::config::Flags, serial: &str) -> ExitCode {
    scep_admin(flags, |target| {
        admitd::scep::revoke(target, serial)?;
        println!("revoked {serial}");
        Ok(())
    })
}

fn inspect(
    file: &std::path::Path,
    signature: Option<&str>,
    key: Option<&std::path::Path>,
    root: Option<&std::path::Path>,
    kind: Option<admitd::attest::inspect::Kind>,
    flags: &admitd::config::Flags,
) -> ExitCode {
    let mut signed = admitd::mdm::inspect::SignedOptions::default();
    if let Some(root) = root {
        let roots = std::fs::read(root)
            .map_err(|e| e.to_string())
            .and_then(|pem| pki::cert::Cert::from_pem_chain(&pem).map_err(|e| e.to_string()));
        match roots {
            Ok(r) if !r.is_empty() => signed.roots = r,
            Ok(_) => {
                eprintln!("admitd inspect: {}: no certificate", root.display());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("admitd inspect: {}: {e}", root.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let limit = admitd::inspect::MAX_INPUT as u64 + 1;
    let mut input = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut input)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut input))
    };
    if let Err(e) = read {
        eprintln!("admitd inspect: {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    let data_dir = flags
        .data_dir
        .clone()
        .unwrap_or_else(|| admitd::config::Config::default().data_dir);
    let result = if let Some(kind) = kind {
        admitd::attest::inspect::inspect_as(&input, kind).map_err(|e| e.to_string())
    } else {
        match admitd::devauth::inspect::dispatch(&input, signature, key, &data_dir) {
            Some(r) => r.map_err(|e| e.to_string()),
            None => {
                let described =
                    admitd::inspect::inspect_with(&input, &signed).map_err(|e| e.to_string());
                match (described, key) {
                    (Ok(mut v), Some(key)) if v.get("pkiMessage").is_some() => {
                        match decrypt(&input, key) {
                            Ok(d) => {
                                if let Some(m) = v.get_mut("pkiMessage") {
                                    m["decrypted"] = d;
                                }
                                Ok(v)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    (Ok(_), Some(key))
                        if admitd::inspect::ade_token_envelope(&input).is_some()
                            || ade_client::ServerToken::envelope(&input).is_ok() =>
                    {
                        decrypt_ade_token(&input, key)
                    }
                    (other, _) => other,
                }
            }
        }
    };
    match result {
        Ok(v) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer_pretty(&mut out, &v)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            match written {
                Ok(()) => ExitCode::SUCCESS,
                // A closed pipe (`| head`) is the reader's choice, not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("admitd inspect: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("admitd inspect: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn decrypt(input: &[u8], key: &std::path::Path) -> Result<serde_json::Value, String> {
    let pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let pem = zeroize::Zeroizing::new(pem);
    let key = admitd::scep::inspect::load_key(&pem).map_err(|e| e.to_string())?;
    admitd::scep::inspect::decrypt(input, &*key).map_err(|e| e.to_string())
}

fn decrypt_ade_token(input: &[u8], key: &std::path::Path) -> Result<serde_json::Value, String> {
    let pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let pem = zeroize::Zeroizing::new(pem);
    admitd::inspect::ade_token_decrypt(input, &pem).map_err(|e| e.to_string())
}

fn serve(flags: &admitd::config::Flags) -> ExitCode {
    let config = match admitd::config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("admitd: {e}");
            return ExitCode::from(2);
        }
    };
    let level: tracing::Level = config.log.parse().unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match admitd::run(&config) {
        Ok(drain) => {
            tracing::info!(?drain, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("admitd: {e}");
            ExitCode::FAILURE
        }
    }
}
