//! The 52-bit geohash Redis stores as a sorted-set score for GEO commands,
//! written from the algorithm's description: longitude and latitude are
//! each scaled to a 26-bit fixed-point offset inside their range
//! (longitude -180..180, latitude limited to the Web Mercator band
//! ±85.05112878) and their bits interleaved, latitude on the even bits.
//! Decoding returns the centre of the cell, which is what GEOPOS shows.
//!
//! Also here: the great-circle distance Redis uses (haversine on a sphere
//! of radius 6372797.560856 m) and the search-area planning behind
//! GEOSEARCH (a centre cell at a step chosen from the radius plus its
//! eight neighbours, with the useless ones dropped).

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the 32 bits of `v` over the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `x` into a 32-bit value.
fn squash(mut x: u64) -> u32 {
    x &= 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if !(1..=32).contains(&step)
        || lat < lat_r.min
        || lat > lat_r.max
        || lon < lon_r.min
        || lon > lon_r.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    // The C code converts to uint32_t, truncating.
    Some(Bits {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

/// Encodes a longitude/latitude pair at full precision (26 bits each).
pub fn encode_wgs84(lon: f64, lat: f64) -> Option<u64> {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(|b| b.bits)
}

/// A decoded cell.
#[derive(Debug, Clone, Copy)]
struct Area {
    lat_min: f64,
    lat_max: f64,
    lon_min: f64,
    lon_max: f64,
}

fn decode(lon_r: Range, lat_r: Range, h: Bits) -> Area {
    let ilat = squash(h.bits) as f64;
    let ilon = squash(h.bits >> 1) as f64;
    let div = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Area {
        lat_min: lat_r.min + (ilat / div) * lat_scale,
        lat_max: lat_r.min + ((ilat + 1.0) / div) * lat_scale,
        lon_min: lon_r.min + (ilon / div) * lon_scale,
        lon_max: lon_r.min + ((ilon + 1.0) / div) * lon_scale,
    }
}

/// The centre of the cell a stored score names: `[longitude, latitude]`.
pub fn decode_wgs84(bits: u64) -> [f64; 2] {
    let a = decode(
        LONG_RANGE,
        LAT_RANGE,
        Bits {
            bits,
            step: STEP_MAX,
        },
    );
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// The standard 11-character geohash string of a stored score: the point
/// is re-encoded over the full -90..90 latitude range; the 11th character
/// stands for bits Redis does not have and is always `0`.
pub fn to_string(score_bits: u64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_wgs84(score_bits);
    let full_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(LONG_RANGE, full_lat, lon, lat, STEP_MAX)
        .map(|b| b.bits)
        .unwrap_or(0);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (lat2 * D_R - lat1 * D_R).abs()
}

/// Great-circle distance in meters (haversine), as Redis computes it.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = lon1 * D_R;
    let lon2r = lon2 * D_R;
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same longitude: the distance is along the meridian.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = lat1 * D_R;
    let lat2r = lat2 * D_R;
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The search shape, in meters.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

impl Shape {
    /// Whether a point is inside the shape centred on `c`; returns its
    /// distance to the centre when it is.
    pub fn contains(&self, c: [f64; 2], p: [f64; 2]) -> Option<f64> {
        match *self {
            Shape::Radius(r) => {
                let d = distance(c[0], c[1], p[0], p[1]);
                (d <= r).then_some(d)
            }
            Shape::Box { width, height } => {
                if lat_distance(p[1], c[1]) > height / 2.0 {
                    return None;
                }
                if distance(p[0], p[1], c[0], p[1]) > width / 2.0 {
                    return None;
                }
                Some(distance(c[0], c[1], p[0], p[1]))
            }
        }
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` around `c`.
    fn bounds(&self, c: [f64; 2]) -> [f64; 4] {
        let (half_w, half_h) = match *self {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (width / 2.0, height / 2.0),
        };
        let (lon, lat) = (c[0], c[1]);
        let lat_delta = (half_h / EARTH_RADIUS_IN_METERS) / D_R;
        let top = (half_w / EARTH_RADIUS_IN_METERS / ((lat + lat_delta) * D_R).cos()) / D_R;
        let bottom = (half_w / EARTH_RADIUS_IN_METERS / ((lat - lat_delta) * D_R).cos()) / D_R;
        let d = if lat < 0.0 { bottom } else { top };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }

    fn radius(&self) -> f64 {
        match *self {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        }
    }
}

fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(h: &mut Bits, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    let x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2))) | y;
}

fn move_y(h: &mut Bits, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    let y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    h.bits = x | (y & (0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2)));
}

fn moved(h: Bits, dx: i8, dy: i8) -> Bits {
    let mut n = h;
    if dx != 0 {
        move_x(&mut n, dx);
    }
    if dy != 0 {
        move_y(&mut n, dy);
    }
    n
}

/// The score ranges `[min, max)` to search, in Redis's order (centre,
/// N, S, E, W, NE, NW, SE, SW), skipping dropped cells and a cell equal to
/// the previous one searched.
pub fn search_ranges(center: [f64; 2], shape: &Shape) -> Vec<(u64, u64)> {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounds(center);
    let mut steps = estimate_steps(shape.radius(), center[1]);
    let plan = |steps: u8| {
        let h = encode(LONG_RANGE, LAT_RANGE, center[0], center[1], steps).unwrap_or_default();
        // centre, N, S, E, W, NE, NW, SE, SW
        let n = [
            h,
            moved(h, 0, 1),
            moved(h, 0, -1),
            moved(h, 1, 0),
            moved(h, -1, 0),
            moved(h, 1, 1),
            moved(h, -1, 1),
            moved(h, 1, -1),
            moved(h, -1, -1),
        ];
        (n, decode(LONG_RANGE, LAT_RANGE, h))
    };
    let (mut n, mut area) = plan(steps);
    let north = decode(LONG_RANGE, LAT_RANGE, n[1]);
    let south = decode(LONG_RANGE, LAT_RANGE, n[2]);
    let east = decode(LONG_RANGE, LAT_RANGE, n[3]);
    let west = decode(LONG_RANGE, LAT_RANGE, n[4]);
    let decrease = north.lat_max < max_lat
        || south.lat_min > min_lat
        || east.lon_max < max_lon
        || west.lon_min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (n, area) = plan(steps);
    }
    if steps >= 2 {
        let zero = Bits::default();
        if area.lat_min < min_lat {
            n[2] = zero;
            n[8] = zero;
            n[7] = zero;
        }
        if area.lat_max > max_lat {
            n[1] = zero;
            n[5] = zero;
            n[6] = zero;
        }
        if area.lon_min < min_lon {
            n[4] = zero;
            n[8] = zero;
            n[6] = zero;
        }
        if area.lon_max > max_lon {
            n[3] = zero;
            n[7] = zero;
            n[5] = zero;
        }
    }
    let mut out = Vec::with_capacity(9);
    let mut last: Option<Bits> = None;
    for h in n {
        if h.is_zero() {
            continue;
        }
        if last == Some(h) {
            continue;
        }
        let shift = 52 - 2 * h.step as u32;
        out.push((h.bits << shift, (h.bits + 1) << shift));
        last = Some(h);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_redis() {
        // GEOADD k 13.361389 38.115556 Palermo stores 3479099956230698.
        assert_eq!(encode_wgs84(13.361389, 38.115556), Some(3479099956230698));
        let [lon, lat] = decode_wgs84(3479099956230698);
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
        assert_eq!(&to_string(3479099956230698), b"sqc8b49rny0");
    }
}
