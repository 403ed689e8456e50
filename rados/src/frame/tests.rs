use super::*;

/// A frame's chunks as one buffer, as the receiver reads it.
fn frame(payload: &'static [u8]) -> Bytes {
    encode(&header(), Bytes::from_static(payload))
        .unwrap()
        .concat()
        .into()
}

fn header() -> Header {
    Header {
        method: 7,
        epoch: 42,
        from: Some("127.0.0.1:6789".parse().unwrap()),
        body: vec![1, 2, 3],
    }
}

#[test]
fn round_trips_and_keeps_payload_bytes() {
    let payload = [0xabu8; 1000];
    let frame = frame(&[0xab; 1000]);
    let (h, p) = decode(frame).unwrap();
    assert_eq!(h, header());
    assert_eq!(&p[..], &payload[..]);
}

#[test]
fn any_flipped_bit_is_caught() {
    let frame = frame(b"payload");
    for i in 0..frame.len() {
        for bit in 0..8 {
            let mut bad = frame.to_vec();
            bad[i] ^= 1 << bit;
            assert!(
                decode(Bytes::from(bad)).is_err(),
                "flip at byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn truncated_extended_and_oversized_frames_are_refused() {
    let frame = frame(b"payload");
    assert!(matches!(
        decode(frame.slice(..frame.len() - 1)),
        Err(FrameError::Length { .. })
    ));
    let mut longer = frame.to_vec();
    longer.push(0);
    assert!(matches!(
        decode(Bytes::from(longer)),
        Err(FrameError::Length { .. })
    ));
    let mut huge = frame.to_vec();
    huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode(Bytes::from(huge)),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(decode(Bytes::from_static(b"abc")).is_err());
}

#[test]
fn a_large_payload_is_framed_without_a_copy_and_a_small_one_in_one_chunk() {
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let chunks = encode(&header(), big.clone()).unwrap();
    assert_eq!(chunks[1].as_ptr(), big.as_ptr(), "the payload's own buffer");
    let small = encode(&header(), Bytes::from_static(b"small")).unwrap();
    assert!(small[1].is_empty() && small[2].is_empty());
    for chunks in [chunks, small] {
        let (h, _) = decode(chunks.concat().into()).unwrap();
        assert_eq!(h, header());
    }
}
