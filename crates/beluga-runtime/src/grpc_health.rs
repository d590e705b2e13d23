//! The gRPC health-check wire format (`grpc.health.v1.Health/Check`, spec §6.2): the framed
//! request and the `status` of the framed response. What a container answers is untrusted: a
//! malformed response is `None`, never a panic.

use beluga_api::protobuf::{push_varint, read_varint};

/// The gRPC health-check request body (`grpc.health.v1.HealthCheckRequest{service}`), framed.
pub fn request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        push_varint(&mut msg, service.len() as u64);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    framed
}

/// The `status` of a framed `HealthCheckResponse` (1 = SERVING); None when malformed.
pub fn status(body: &[u8]) -> Option<u64> {
    if body.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let msg = body.get(5..5usize.checked_add(len)?)?;
    let mut i = 0;
    let mut status = 0; // proto3 default: UNKNOWN
    while i < msg.len() {
        let key = msg[i];
        i += 1;
        if key & 7 != 0 {
            return None; // only varints in this message
        }
        let v = read_varint(msg, &mut i)?;
        if key >> 3 == 1 {
            status = v;
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §6.2: the framing; review P4: over-long varints are malformed, not a panic.
    #[test]
    fn framing_and_malformed_responses() {
        assert_eq!(request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            request("svc"),
            vec![0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']
        );
        assert_eq!(request(&"s".repeat(200))[5..8], [0x0a, 0xc8, 0x01]);
        assert_eq!(status(&[0, 0, 0, 0, 2, 0x08, 0x01]), Some(1));
        assert_eq!(status(&[0, 0, 0, 0, 2, 0x08, 0x02]), Some(2));
        assert_eq!(status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(status(&[0, 0]), None);
        // A 10-byte varint is the longest there is; 11 bytes are refused.
        let mut ten = vec![0, 0, 0, 0, 11, 0x08];
        ten.extend([0xff; 9]);
        ten.push(0x01);
        assert!(status(&ten).is_some());
        let mut eleven = vec![0, 0, 0, 0, 12, 0x08];
        eleven.extend([0xff; 10]);
        eleven.push(0x01);
        assert_eq!(status(&eleven), None);
        // A length past the body, and one that would overflow.
        assert_eq!(status(&[0, 0, 0, 0, 9, 0x08, 0x01]), None);
        assert_eq!(status(&[0, 0xff, 0xff, 0xff, 0xff, 0x08]), None);
    }
}
