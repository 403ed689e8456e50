//! The cluster key: a certificate and private key that every daemon and client of one
//! cluster shares. Generated once at cluster creation; kept in a keyring file (PEM, mode
//! 0600). Peers prove they hold it in the TLS handshake (see [`crate::tls`]).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a keyring cannot be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// Key or certificate generation failed.
    #[error("cannot generate cluster key: {0}")]
    Generate(String),
    /// The file is not a keyring.
    #[error("{path}: not a Shoal keyring (need one CERTIFICATE and one PRIVATE KEY in PEM)")]
    Malformed {
        /// The file.
        path: String,
    },
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The shared cluster credential.
#[derive(Debug)]
pub struct Keyring {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Keyring {
    fn clone(&self) -> Self {
        Keyring {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Keyring {
    /// A fresh random cluster key.
    pub fn generate() -> Result<Keyring, KeyringError> {
        let certified = rcgen::generate_simple_self_signed(vec!["shoal".to_owned()])
            .map_err(|e| KeyringError::Generate(e.to_string()))?;
        let pem = format!(
            "{}{}",
            certified.cert.pem(),
            certified.signing_key.serialize_pem()
        );
        Keyring::from_pem(pem.as_bytes(), "<generated>")
    }

    /// Parses PEM text; `origin` names it in errors.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<Keyring, KeyringError> {
        let malformed = || KeyringError::Malformed {
            path: origin.to_owned(),
        };
        let cert = CertificateDer::from_pem_slice(pem).map_err(|_| malformed())?;
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| malformed())?;
        Ok(Keyring { cert, key })
    }

    /// The keyring as PEM text.
    pub fn to_pem(&self) -> String {
        let cert = pem_block("CERTIFICATE", &self.cert);
        let key = pem_block("PRIVATE KEY", self.key.secret_der());
        format!("{cert}{key}")
    }

    /// Reads a keyring file.
    pub fn load(path: &Path) -> Result<Keyring, KeyringError> {
        let text = std::fs::read(path).map_err(|source| KeyringError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Keyring::from_pem(&text, &path.display().to_string())
    }

    /// Writes the keyring to `path`, readable by its owner only, atomically (temp + rename).
    pub fn save(&self, path: &Path) -> Result<(), KeyringError> {
        let io = |source| KeyringError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut file = opts.open(&tmp).map_err(io)?;
            file.write_all(self.to_pem().as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The certificate every member presents.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key proving membership.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der))
}
