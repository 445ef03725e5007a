//! An S3-compatible server for the benchmark (bench/run.sh): the folders
//! under ROOT are buckets and the files below them objects (s3s with its
//! file-system back end), on 127.0.0.1:PORT, with the access key `bench`
//! and the secret key `bench-secret`.
//!
//!   cargo run --release --example s3-server -- ROOT PORT

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: s3-server ROOT PORT");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let fs = s3s_fs::FileSystem::new(PathBuf::from(root)).expect("ROOT is a folder");
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single("bench", "bench-secret"));
    let service = builder.build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is free");
        let http =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let connection = http
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                connection.await.ok();
            });
        }
    });
}
