//! Typed RPCs: each request type names its method and its reply type, so a call site can
//! never receive the wrong kind of reply.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request: what method it is and what it is answered with.
pub trait Rpc: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Its method number on the wire; unique across Shoal.
    const METHOD: u16;
    /// What the server answers. Application errors live inside it (e.g. a `Result`).
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// Transport-level failures a server reports instead of a reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub enum WireError {
    /// The server has no handler for this method (an older or different daemon).
    #[error("the peer does not serve method {0}")]
    UnknownMethod(u16),
    /// The request body did not decode as the method's request type.
    #[error("the peer could not decode the request")]
    BadRequest,
}

/// What a handler knows about the request beyond its body.
#[derive(Debug, Clone)]
pub struct Context {
    /// The sender's listening address, if it announced one.
    pub from: Option<SocketAddr>,
    /// The connection's remote address.
    pub remote: SocketAddr,
    /// The sender's map epoch.
    pub epoch: u64,
    /// Raw payload bytes sent with the request.
    pub payload: Bytes,
}

type Reply = Result<(Vec<u8>, Bytes), WireError>;
type BoxFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Route = Box<dyn Fn(&[u8], Context) -> BoxFuture + Send + Sync>;

/// Maps method numbers to typed handlers.
#[derive(Default)]
pub struct Router {
    routes: HashMap<u16, Route>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves requests of type `R` with `handler`.
    pub fn route<R, F, Fut>(self, handler: F) -> Router
    where
        R: Rpc,
        F: Fn(R, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Reply> + Send + 'static,
    {
        self.route_with_payload::<R, _, _>(move |req, ctx| {
            let fut = handler(req, ctx);
            async move { (fut.await, Bytes::new()) }
        })
    }

    /// Serves requests of type `R` whose replies carry raw payload bytes.
    pub fn route_with_payload<R, F, Fut>(mut self, handler: F) -> Router
    where
        R: Rpc,
        F: Fn(R, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (R::Reply, Bytes)> + Send + 'static,
    {
        let route: Route = Box::new(move |body, ctx| {
            let req: R = match rmp_serde::from_slice(body) {
                Ok(req) => req,
                Err(_) => return Box::pin(async { Err(WireError::BadRequest) }),
            };
            let fut = handler(req, ctx);
            Box::pin(async move {
                let (reply, payload) = fut.await;
                let body = rmp_serde::to_vec(&reply).map_err(|_| WireError::BadRequest)?;
                Ok((body, payload))
            })
        });
        let previous = self.routes.insert(R::METHOD, route);
        assert!(previous.is_none(), "method {} routed twice", R::METHOD);
        self
    }

    /// Runs the handler for `method`; the result is the encoded reply body and payload.
    pub(crate) async fn dispatch(&self, method: u16, body: &[u8], ctx: Context) -> Reply {
        match self.routes.get(&method) {
            Some(route) => route(body, ctx).await,
            None => Err(WireError::UnknownMethod(method)),
        }
    }
}
