//! QR images: SVG (the `qrcode` crate's renderer) and PNG (its modules written with the
//! `png` crate: the `qrcode` crate's own PNG path pulls in the whole `image` crate).

use qrcode::{EcLevel, QrCode};

/// Modules of white border around the code (the standard's quiet zone).
const QUIET: usize = 4;

fn code(data: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| e.to_string())
}

/// The code as an SVG document, `px` pixels per module.
pub fn svg(data: &str, px: u32) -> Result<String, String> {
    Ok(code(data)?
        .render::<qrcode::render::svg::Color<'_>>()
        .module_dimensions(px, px)
        .quiet_zone(true)
        .build())
}

/// The code as a greyscale PNG, `px` pixels per module.
pub fn png(data: &str, px: usize) -> Result<Vec<u8>, String> {
    let c = code(data)?;
    let w = c.width();
    let colors = c.to_colors();
    let side = (w + 2 * QUIET) * px;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = ((i % w + QUIET) * px, (i / w + QUIET) * px);
        for row in y..y + px {
            pixels[row * side + x..row * side + x + px].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn images_have_the_code_inside() {
        let svg = super::svg("http://weixin.qq.com/q/abc", 4).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = super::png("http://weixin.qq.com/q/abc", 4).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        // Version 2 (25 modules) + 8 quiet modules, 4 px each: 132 px square.
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().width, 132);
    }
}
