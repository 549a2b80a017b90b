//! Images: their size read from the header (cheap, and how decompression
//! bombs are refused before anything is decoded), and thumbnails.

use std::{
    io::{Cursor, Read},
    path::Path,
};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};

/// What the image code can say about a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    /// Not an image this server decodes (or a broken one).
    NotImage,
    /// An image whose pixel count exceeds the limit.
    TooLarge { width: u32, height: u32 },
    /// An image of this size (as displayed: EXIF rotation applied).
    Image { width: u32, height: u32 },
}

/// The formats thumbnails are made of, by MIME type.
pub fn decodable(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/gif" | "image/webp")
}

/// How much of a file's beginning [`probe`] reads: room for any real
/// header (EXIF with its preview, ICC profiles) many times over. Never the
/// whole file: the JPEG decoder reads everything it is given into memory,
/// and a file that starts like a JPEG may be gigabytes long.
pub const PROBE_HEAD: u64 = 1 << 20;

/// Reads the dimensions from the file's header (within its first
/// [`PROBE_HEAD`] bytes), without decoding pixels.
pub fn probe(path: &Path, max_pixels: u64) -> Probe {
    let mut head = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(PROBE_HEAD).read_to_end(&mut head)) {
        Ok(_) => probe_bytes(&head, max_pixels),
        Err(_) => Probe::NotImage,
    }
}

/// [`probe`] on the first bytes of an image (its header must be among them).
pub fn probe_bytes(head: &[u8], max_pixels: u64) -> Probe {
    match ImageReader::new(Cursor::new(head)).with_guessed_format() {
        Ok(reader) => probe_reader(reader, max_pixels),
        Err(_) => Probe::NotImage,
    }
}

fn probe_reader<R: std::io::BufRead + std::io::Seek>(reader: ImageReader<R>, max_pixels: u64) -> Probe {
    let Ok(mut decoder) = reader.into_decoder() else { return Probe::NotImage };
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Probe::NotImage;
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Probe::TooLarge { width: w, height: h };
    }
    let turned = decoder.orientation().is_ok_and(|o| {
        use image::metadata::Orientation::*;
        matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
    });
    let (width, height) = if turned { (h, w) } else { (w, h) };
    Probe::Image { width, height }
}

/// A thumbnail: encoded bytes and what they are.
#[derive(Debug)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decodes the image at `path` (refusing more than `max_pixels`), applies
/// its EXIF orientation, and scales it so its longer edge is at most
/// `edge`: JPEG, or PNG when it has transparency.
pub fn thumbnail(path: &Path, edge: u32, max_pixels: u64) -> Result<Thumbnail, String> {
    let mut reader = ImageReader::open(path).and_then(ImageReader::with_guessed_format).map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    // The decoder's own bound, beside the pixel check: 4 bytes per pixel
    // plus slack for the decoder's buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(format!("{w}x{h} pixels is more than {max_pixels}"));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    if let Some(o) = orientation {
        image.apply_orientation(o);
    }
    let image = if image.width() > edge || image.height() > edge { image.thumbnail(edge, edge) } else { image };
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    if image.color().has_alpha() {
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).map_err(|e| e.to_string())?;
        Ok(Thumbnail { bytes, mime: "image/png", width, height })
    } else {
        JpegEncoder::new_with_quality(&mut bytes, 82).encode_image(&image.to_rgb8()).map_err(|e| e.to_string())?;
        Ok(Thumbnail { bytes, mime: "image/jpeg", width, height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, w: u32, h: u32, alpha: bool) -> std::path::PathBuf {
        let path = dir.join(format!("{w}x{h}.png"));
        let img = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 100])))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7])))
        };
        img.save(&path).unwrap();
        path
    }

    #[test]
    fn probes_and_thumbnails_keep_the_aspect_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let path = png(dir.path(), 1000, 500, false);
        assert_eq!(probe(&path, 1_000_000), Probe::Image { width: 1000, height: 500 });
        assert_eq!(probe(&path, 499_999), Probe::TooLarge { width: 1000, height: 500 });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(probe_bytes(&bytes[..64], 1_000_000), Probe::Image { width: 1000, height: 500 }, "header only");
        let t = thumbnail(&path, 320, 1_000_000).unwrap();
        assert_eq!((t.mime, t.width, t.height), ("image/jpeg", 320, 160));
        let back = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (320, 160));
        assert!(thumbnail(&path, 320, 499_999).is_err(), "the pixel limit holds when decoding too");
    }

    #[test]
    fn probes_read_a_bounded_head() {
        let dir = tempfile::tempdir().unwrap();
        let mut jpeg = Vec::new();
        JpegEncoder::new(&mut jpeg).encode_image(&image::RgbImage::new(64, 48)).unwrap();
        // Megabytes after the image: read neither here nor by the decoder.
        let long = dir.path().join("long.jpg");
        let mut bytes = jpeg.clone();
        bytes.resize(jpeg.len() + 3 * PROBE_HEAD as usize, 0xAB);
        std::fs::write(&long, &bytes).unwrap();
        assert_eq!(probe(&long, 1_000_000), Probe::Image { width: 64, height: 48 });
        // A header that only starts past the head is not looked for.
        let late = dir.path().join("late.jpg");
        let mut bytes = b"\xFF\xD8".to_vec();
        while bytes.len() < PROBE_HEAD as usize + 1000 {
            bytes.extend_from_slice(&[0xFF, 0xE3, 0xFF, 0xFF]); // APP3, 65535 bytes
            bytes.resize(bytes.len() + 65533, 0);
        }
        bytes.extend_from_slice(&jpeg[2..]);
        std::fs::write(&late, &bytes).unwrap();
        assert_eq!(probe(&late, 1_000_000), Probe::NotImage);
        assert_eq!(probe_bytes(&bytes, 1_000_000), Probe::Image { width: 64, height: 48 }, "given it all");
    }

    #[test]
    fn small_and_transparent_images() {
        let dir = tempfile::tempdir().unwrap();
        let t = thumbnail(&png(dir.path(), 40, 30, true), 320, 1_000_000).unwrap();
        assert_eq!((t.mime, t.width, t.height), ("image/png", 40, 30), "not enlarged; alpha kept");
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"hello").unwrap();
        assert_eq!(probe(&other, 1_000_000), Probe::NotImage);
        assert!(thumbnail(&other, 320, 1_000_000).is_err());
    }
}
