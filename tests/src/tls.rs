//! A certificate authority of the test's own, made with the `openssl` command: CA and server
//! certificates for 127.0.0.1 and localhost, in a directory removed when the [`Pki`] is dropped.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Pki {
    pub dir: PathBuf,
}

/// A certificate and its private key (PEM files).
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = xtask::target_dir().join("test-tls").join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("creating the PKI directory");
        Pki { dir }
    }

    /// A self-signed CA named `name` (P-256, valid for two days).
    pub fn ca(&self, name: &str) -> Issued {
        let issued = self.paths(name);
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path(&issued.key),
            "-out",
            path(&issued.cert),
        ]);
        issued
    }

    /// A server certificate for 127.0.0.1 and localhost, signed by `ca`.
    pub fn server(&self, ca: &Issued, name: &str) -> Issued {
        let issued = self.paths(name);
        let request = self.dir.join(format!("{name}.csr"));
        let extensions = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &extensions,
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("writing the certificate's extensions");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            path(&issued.key),
            "-out",
            path(&request),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&request),
            "-CA",
            path(&ca.cert),
            "-CAkey",
            path(&ca.key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path(&extensions),
            "-out",
            path(&issued.cert),
        ]);
        issued
    }

    fn paths(&self, name: &str) -> Issued {
        Issued {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn openssl(args: &[&str]) {
    // Debian's minimal images lack the command: install it as the server binaries are.
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if Command::new("openssl").arg("version").output().is_err() {
            xtask::tools::apt_install(&["openssl"]).expect("installing openssl");
        }
    });
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
