#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ade;
pub mod admin;
pub mod api_client;
pub mod attest;
pub mod config;
pub mod data_dir;
pub mod ddm;
pub mod devauth;
pub mod failpoint;
pub mod inspect;
pub mod inventory;
pub mod mdm;
pub mod records;
pub mod scep;
pub mod scim;
pub mod secrets;
pub mod server;
pub mod storage;

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;

use config::Config;
use data_dir::DataDir;
use server::{AppState, Drain, Server};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// The data directory could not be opened or created.
    #[error(transparent)]
    DataDir(#[from] data_dir::Error),
    /// A socket, signal handler or the runtime could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being set up.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// Open (or create) the data directory, bind both listeners, print
/// `listening http=ADDR https=ADDR` on stdout, and serve until SIGTERM or Ctrl-C; then drain.
pub fn run(config: &Config) -> Result<Drain, Error> {
    let provider =
        pki::provider::by_name(&config.crypto_provider).ok_or_else(|| config::Error::Invalid {
            name: "crypto_provider",
            reason: format!("{:?} is not compiled in", config.crypto_provider),
        })?;
    // Names of the TLS certificate: IP addresses where they parse as one, DNS names otherwise.
    let (mut tls_ips, mut tls_dns) = (Vec::new(), Vec::new());
    for name in &config.tls_names {
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => tls_ips.push(ip),
            Err(_) => tls_dns.push(name.clone()),
        }
    }
    let tls_validity = config.tls_cert_validity;
    let config_ca_key_type = config.ca_key_type;
    let dns_refs: Vec<&str> = tls_dns.iter().map(String::as_str).collect();
    let data = DataDir::open(
        &config.data_dir,
        &data_dir::Options {
            provider,
            ca_key_type: config.ca_key_type,
            tls_dns_names: &dns_refs,
            tls_ips: &tls_ips,
            tls_validity,
        },
    )?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        root = %data.root_pem_path().display(),
        schema_version = data.storage.schema_version().ok(),
        "data directory ready"
    );
    let tls_slot = Arc::new(server::tls::CertSlot::new(&data.tls)?);
    // Devices' identity certificates come from the device CA: its subject is the hint.
    let device_ca_subject = {
        use pki::der::Encode as _;
        data.ca.device.tbs_certificate().subject().to_der().ok()
    };
    let tls = Arc::new(server::tls::server_config(
        tls_slot.clone(),
        device_ca_subject,
    )?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting the async runtime"))?;
    let drain = rt.block_on(async {
        // Device auth's records: a connection of its own to the data directory's SQLite
        // database, or the PostgreSQL database (shared by every admitd using it).
        // The inventory and the SCIM directory share one portable handle on the same
        // database (their own connection or pool).
        let (devauth_store, records_db): (Arc<dyn devauth::store::DevauthStore>, records::Db) =
            match &config.database {
                Some(url) => {
                    let pg = Arc::new(
                        scep::postgres::PgStore::open(url.expose(), 8)
                            .map_err(data_dir::Error::from)?,
                    );
                    (
                        Arc::new(devauth::postgres::PgDevauth::new(pg.clone())),
                        records::Db::Postgres {
                            pg,
                            lock: records::INVENTORY_LOCK,
                        },
                    )
                }
                None => {
                    let open = || {
                        storage::Storage::open(&scep::database_path(&config.data_dir))
                            .map_err(data_dir::Error::from)
                    };
                    (Arc::new(open()?), records::Db::Sqlite(Arc::new(open()?)))
                }
            };
        let devauth =
            devauth::Service::open(&config.data_dir, devauth_store, provider, &config.devauth)?;
        let scep = scep::Service::open(
            &data,
            &scep::Settings {
                challenge: config.scep_challenge.as_ref(),
                cert_validity: config.scep_cert_validity,
                renewal_window: config.scep_renewal_window,
                manual_approval: config.scep_manual_approval,
                database: config.database.as_ref().map(config::DatabaseUrl::expose),
            },
        )?;
        // MDM's records, APNs push results and the webhook outbox: one SQLite connection (so
        // their writers queue on its lock, never on SQLite's), or one PostgreSQL pool.
        let (mdm_store, push_results, outbox_store): (
            Arc<dyn mdm::store::MdmStore>,
            Arc<dyn mdm::push::PushResults>,
            Arc<dyn mdm::webhook::OutboxStore>,
        ) = match &config.database {
            Some(url) => {
                let pg = Arc::new(
                    scep::postgres::PgStore::open(url.expose(), 8)
                        .map_err(data_dir::Error::from)?,
                );
                (
                    Arc::new(mdm::postgres::PgMdm::new(pg.clone())),
                    pg.clone(),
                    pg,
                )
            }
            None => {
                let db = Arc::new(
                    storage::Storage::open(&scep::database_path(&config.data_dir))
                        .map_err(data_dir::Error::from)?,
                );
                (db.clone(), db.clone(), db)
            }
        };
        // Profiles carry the push certificate's topic unless the config names one.
        let mut mdm_settings = config.mdm.clone();
        match mdm::push::PushIdentity::load(&config.data_dir, provider) {
            Ok(id) if mdm_settings.topic == mdm::Settings::default().topic => {
                mdm_settings.topic = id.topic;
            }
            Ok(id) if mdm_settings.topic != id.topic => tracing::warn!(
                configured = %mdm_settings.topic,
                push_certificate = %id.topic,
                "mdm.topic is not the push certificate's topic: pushes to devices enrolled \
                 with it will be refused by APNs"
            ),
            Ok(_) | Err(mdm::push::CertError::Missing) => {}
            Err(e) => tracing::warn!(error = %e, "the imported push certificate is unusable"),
        }
        // DDM's records: the same choice of database.
        let ddm_store: Arc<dyn ddm::store::DdmStore> = match &config.database {
            Some(url) => Arc::new(ddm::postgres::PgDdm::new(Arc::new(
                scep::postgres::PgStore::open(url.expose(), 4).map_err(data_dir::Error::from)?,
            ))),
            None => Arc::new(
                storage::Storage::open(&scep::database_path(&config.data_dir))
                    .map_err(data_dir::Error::from)?,
            ),
        };
        let mdm = Arc::new(mdm::Service::new(mdm_store, mdm_settings, &data)?);
        // DDM queues its DeclarativeManagement commands through the core, and the core hands
        // it DeclarativeManagement check-ins (a weak link back, so neither keeps the other).
        let ddm = Arc::new(ddm::Server::new(
            ddm_store,
            Arc::new(ddm::WeakCommands::new(&mdm)),
            config.ddm_token_mode.to_ddm(),
        ));
        let admin = admin::Admin::new(devauth.admin_token());
        let sealer = secrets::Sealer::open_or_create(&data.path)?;
        let scim_token = match &config.inventory.scim_token {
            Some(t) => t.clone(),
            None => inventory::load_or_create_scim_token(&config.data_dir)?,
        };
        let scim = scim::Service::new(records_db.clone(), &scim_token);
        let inventory = Arc::new(
            inventory::Service::new(records_db, config.inventory.clone()).with_tpm(provider)?,
        );
        // SCEP and device auth ask the inventory before they issue (for what it enforces).
        scep.set_inventory(inventory.clone());
        devauth.set_inventory(inventory.clone());
        let apple_attestation = Arc::new(inventory::apple::AppleAttestation::new(
            inventory.clone(),
            provider,
            inventory.apple_anchors()?,
        ));
        let runtime = tokio::runtime::Handle::current();
        // Pushes go to the targets the core's TokenUpdates stored.
        let push = Arc::new(mdm::push::Pusher::start(
            &runtime,
            config.push.clone(),
            config.data_dir.clone(),
            provider,
            mdm.push_targets(),
            push_results,
        ));
        let events = Arc::new(mdm::webhook::Outbox::start(
            &runtime,
            config.webhooks.clone(),
            outbox_store,
        )?);
        // The features beside the MDM core, set once: the pusher wakes channels, the outbox
        // records events, DDM answers DeclarativeManagement check-ins, and the inventory
        // verifies Managed Device Attestation results.
        mdm.set_hooks(mdm::Hooks {
            wake: Some(push.clone()),
            events: Some(events.clone()),
            declarative: Some(ddm.clone()),
            results: vec![apple_attestation.clone()],
        });
        // ADE's records: the same database as device auth's.
        let ade_store: Arc<dyn ade::store::AdeStore> = match &config.database {
            Some(url) => Arc::new(ade::postgres::PgAde::new(Arc::new(
                scep::postgres::PgStore::open(url.expose(), 4).map_err(data_dir::Error::from)?,
            ))),
            None => Arc::new(
                storage::Storage::open(&scep::database_path(&config.data_dir))
                    .map_err(data_dir::Error::from)?,
            ),
        };
        let ade = ade::Service::open(&config.ade, ade_store, provider).map_err(|e| {
            config::Error::Invalid {
                name: "ade",
                reason: e.to_string(),
            }
        })?;
        ade.set_inventory(inventory.clone());
        let state = Arc::new(AppState {
            admin,
            ade,
            sealer,
            data,
            devauth,
            scep,
            inventory,
            scim,
            apple_attestation,
            mdm,
            push,
            events,
            ddm,
        });
        let server = Server::bind(config.http, config.https, tls, state.clone(), config.limits)
            .await
            .map_err(io_err("binding the listeners"))?;
        let http = server
            .http_addr()
            .map_err(io_err("reading the HTTP address"))?;
        let https = server
            .https_addr()
            .map_err(io_err("reading the HTTPS address"))?;
        // Certificates name the CRL on the HTTP listener: the configured URL, or the bound
        // address (loopback and single-host setups).
        let crl_url = match &config.scep_crl_url {
            Some(u) => u.clone(),
            None => format!("http://{http}{}", scep::CRL_PATH),
        };
        state.scep.set_crl_url(crl_url);
        // Profiles point devices at the HTTPS listener: the configured URL, or the first TLS
        // name and the bound port.
        let bound_ip = https.ip().to_string();
        let host = if config.tls_names.contains(&bound_ip) {
            bound_ip
        } else {
            config.tls_names.first().cloned().unwrap_or(bound_ip)
        };
        let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]")
        } else {
            host
        };
        state
            .mdm
            .set_default_url(format!("https://{host}:{}", https.port()));
        // DDM sends the DeclarativeManagement command again where it is due (backoff per
        // `ddm::reconcile::Policy`).
        tokio::spawn(
            state
                .ddm
                .clone()
                .keep_resending(std::time::Duration::from_secs(60)),
        );
        // The TLS certificate is renewed while running, before it runs out.
        let renew_state = state.clone();
        let renew = move || {
            let dns: Vec<&str> = tls_dns.iter().map(String::as_str).collect();
            renew_state.data.renew_tls(&data_dir::Options {
                provider,
                ca_key_type: config_ca_key_type,
                tls_dns_names: &dns,
                tls_ips: &tls_ips,
                tls_validity,
            })
        };
        tokio::spawn(server::tls::keep_renewed(tls_slot, tls_validity, renew));
        // One ADE sync task per imported token.
        ade::spawn_sync(state.clone());
        // Handlers are installed before the address line, so a signal sent by whoever reads
        // that line is never the default (fatal) action.
        let shutdown = shutdown_signal().map_err(io_err("installing signal handlers"))?;
        tracing::info!(%http, %https, "listening");
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http={http} https={https}")
            .and_then(|()| out.flush())
            .map_err(io_err("writing to stdout"))?;
        drop(out);
        Ok::<_, Error>(server.run(shutdown).await)
    })?;
    // Connections abandoned after the drain timeout are dropped with the runtime.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(drain)
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("interrupt (Ctrl-C) received"),
        }
    })
}
