//! A chunked request body that was not read to its end closes the connection after the
//! response. Left alone, actix-http keeps such a connection open to drain the rest of a body
//! its handler dropped, with no deadline: a client that sends one chunk and stops would hold
//! it for ever. actix-http closes instead when the body is still held, unread, as the
//! response goes out (as it does for a body of declared length), so an unread body is kept
//! with the response until then.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::TRANSFER_ENCODING;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;

pub async fn close_unread_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    if !req.headers().contains_key(TRANSFER_ENCODING) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let body = Rc::new(RefCell::new(Body {
        payload: req.take_payload(),
        finished: false,
    }));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Tracked(body.clone())),
    });
    let response = next.call(req).await?;
    if body.borrow().finished {
        return Ok(response.map_into_left_body());
    }
    Ok(response.map_body(|_, sent| {
        EitherBody::right(BoxBody::new(Holding {
            sent: sent.boxed(),
            _unread: body,
        }))
    }))
}

/// A response's body that keeps the unread request body alive until it has been sent.
struct Holding {
    sent: BoxBody,
    _unread: Rc<RefCell<Body>>,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.sent.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().sent).poll_next(cx)
    }
}

struct Body {
    payload: Payload,
    finished: bool,
}

/// The request's payload as the handler reads it, noting when it has been read to its end.
struct Tracked(Rc<RefCell<Body>>);

impl Stream for Tracked {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.borrow_mut();
        let next = Pin::new(&mut body.payload).poll_next(cx);
        if let Poll::Ready(None) = next {
            body.finished = true;
        }
        next
    }
}
