//! Geohash arithmetic as Redis 7.0 computes it (geohash.c, geohash_helper.c): the 52-bit
//! interleaved score GEOADD stores, decoding a score back to the centre of its cell,
//! haversine distances, and the nine cells (centre and neighbours) a radius or box search
//! scans. Every step follows Redis's floating point operations in the same order, so the
//! scores, positions, distances and the cells searched (hence the order of unsorted
//! results) are the ones Redis produces.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Web Mercator's latitude limits (EPSG:900913): Redis cannot index closer to the poles.
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
/// Bits per coordinate of a stored score.
pub const STEP_MAX: u8 = 26;

const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84.
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

pub const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};
/// The ranges of a standard geohash (GEOHASH's output).
pub const STANDARD_LAT: Range = Range {
    min: -90.0,
    max: 90.0,
};

/// A cell: `step` bits per coordinate, latitude in the even bits, longitude in the odd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// Redis's GZERO marks a neighbour the search skips.
    const ZERO: Hash = Hash { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self == Hash::ZERO
    }

    /// The cell's bits shifted to a 52-bit score prefix.
    pub fn align52(self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub long: Range,
    pub lat: Range,
}

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

/// Spreads the low 32 bits of `x` to the even bit positions and `y` to the odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    let spread = |v: u32| {
        let mut v = v as u64;
        for (shift, mask) in [16, 8, 4, 2, 1].into_iter().zip(B.iter().rev()) {
            v = (v | (v << shift)) & mask;
        }
        v
    };
    spread(x) | (spread(y) << 1)
}

/// The inverse: even bits to the low 32, odd bits to the high 32.
fn deinterleave(bits: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    let gather = |mut v: u64| {
        for (shift, mask) in [0, 1, 2, 4, 8, 16].into_iter().zip(B) {
            v = (v | (v >> shift)) & mask;
        }
        v
    };
    gather(bits) | (gather(bits >> 1) << 32)
}

/// geohashEncode: None outside Redis's indexable area or the given ranges.
pub fn encode(long_range: Range, lat_range: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || long < long_range.min || long > long_range.max
    {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (long - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(Hash {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The score GEOADD stores for a position already checked to be indexable.
pub fn score_of(long: f64, lat: f64) -> Option<f64> {
    let hash = encode(WGS84_LONG, WGS84_LAT, long, lat, STEP_MAX)?;
    Some(hash.align52() as f64)
}

/// geohashDecode: the cell's bounds.
pub fn decode(long_range: Range, lat_range: Range, hash: Hash) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let separated = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilat = separated as u32;
    let ilong = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    Some(Area {
        lat: Range {
            min: lat_range.min + (ilat as f64 / cells) * lat_scale,
            max: lat_range.min + ((ilat as u64 + 1) as f64 / cells) * lat_scale,
        },
        long: Range {
            min: long_range.min + (ilong as f64 / cells) * long_scale,
            max: long_range.min + ((ilong as u64 + 1) as f64 / cells) * long_scale,
        },
    })
}

/// The position a stored score stands for: its cell's centre, clamped to the indexable
/// area (Redis's decodeGeohash).
pub fn position_of(score: f64) -> (f64, f64) {
    // C's double to uint64 conversion; scores GEOADD wrote are exact integers.
    let hash = Hash {
        bits: score as u64,
        step: STEP_MAX,
    };
    let area = decode(WGS84_LONG, WGS84_LAT, hash).expect("a step-26 hash is never zero");
    let long = ((area.long.min + area.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (long, lat)
}

/// GEOHASH's 11 characters: the position re-encoded with the standard latitude range
/// (-90..90); the 11th character has no bits left and is always '0'.
pub fn standard_geohash(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (long, lat) = position_of(score);
    let hash = encode(WGS84_LONG, STANDARD_LAT, long, lat, STEP_MAX)?;
    let mut out = [b'0'; 11];
    for (i, slot) in out.iter_mut().enumerate().take(10) {
        let index = (hash.bits >> (52 - (i + 1) * 5)) & 0x1f;
        *slot = ALPHABET[index as usize];
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Distances

/// Distance along a meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine great-circle distance in meters.
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let long1r = deg_rad(long1);
    let long2r = deg_rad(long2);
    let v = ((long2r - long1r) / 2.0).sin();
    // Same longitude: the formula reduces to the latitude difference.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

// ---------------------------------------------------------------------------------------
// The search area

/// What a search covers: a circle or an axis-aligned box around (`long`, `lat`), in the
/// unit whose meters-per-unit is `conversion`.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub long: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// The distance from the centre to a point inside the shape, or None outside it
    /// (geoWithinShape).
    pub fn within(&self, long: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(radius) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= radius * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                // The cheaper latitude test first, as Redis.
                if lat_distance(lat, self.lat) > height_m / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }

    /// Half extents in meters (height, width) for the bounding box.
    fn half_extents(&self) -> (f64, f64) {
        match self.shape {
            Shape::Radius(r) => (self.conversion * r, self.conversion * r),
            Shape::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        }
    }

    /// geohashBoundingBox: [min long, min lat, max long, max lat]. Meridians converge
    /// towards the pole, so the longitude span is taken at the edge nearer to it.
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = self.half_extents();
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let long_delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.long - long_delta,
            self.lat - lat_delta,
            self.long + long_delta,
            self.lat + lat_delta,
        ]
    }

    /// The radius that covers the shape, in meters (a box: centre to corner).
    fn radius_m(&self) -> f64 {
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        radius * self.conversion
    }

    /// geohashCalculateAreasByShapeWGS84: the centre cell and its eight neighbours, in
    /// Redis's scan order (centre, N, S, E, W, NE, NW, SE, SW), with the neighbours that
    /// cannot hold a match zeroed.
    pub fn cells(&self) -> [Hash; 9] {
        let [min_long, min_lat, max_long, max_lat] = self.bounds();
        let mut steps = estimate_steps(self.radius_m(), self.lat);
        let mut hash = encode(WGS84_LONG, WGS84_LAT, self.long, self.lat, steps)
            .expect("the centre was checked to be indexable");
        let mut around = neighbours(hash);
        let decode_wgs = |h| decode(WGS84_LONG, WGS84_LAT, h).expect("a non-zero cell");
        // A neighbour too close to cover the edge of the area: one step larger cells.
        let decrease = decode_wgs(around.north).lat.max < max_lat
            || decode_wgs(around.south).lat.min > min_lat
            || decode_wgs(around.east).long.max < max_long
            || decode_wgs(around.west).long.min > min_long;
        if steps > 1 && decrease {
            steps -= 1;
            hash = encode(WGS84_LONG, WGS84_LAT, self.long, self.lat, steps)
                .expect("the centre was checked to be indexable");
            around = neighbours(hash);
        }
        let area = decode_wgs(hash);
        if steps >= 2 {
            if area.lat.min < min_lat {
                around.south = Hash::ZERO;
                around.south_west = Hash::ZERO;
                around.south_east = Hash::ZERO;
            }
            if area.lat.max > max_lat {
                around.north = Hash::ZERO;
                around.north_east = Hash::ZERO;
                around.north_west = Hash::ZERO;
            }
            if area.long.min < min_long {
                around.west = Hash::ZERO;
                around.south_west = Hash::ZERO;
                around.north_west = Hash::ZERO;
            }
            if area.long.max > max_long {
                around.east = Hash::ZERO;
                around.south_east = Hash::ZERO;
                around.north_east = Hash::ZERO;
            }
        }
        [
            hash,
            around.north,
            around.south,
            around.east,
            around.west,
            around.north_east,
            around.north_west,
            around.south_east,
            around.south_west,
        ]
    }
}

/// geohashEstimateStepsByRadius: the cell size whose neighbours cover the radius.
fn estimate_steps(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    // Make sure the range is included in most of the base cases.
    step -= 2;
    // Wider cells towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The score range [min, max) of every point inside `cell`.
pub fn score_range(cell: Hash) -> (f64, f64) {
    let min = cell.align52();
    let max = Hash {
        bits: cell.bits + 1,
        step: cell.step,
    }
    .align52();
    (min as f64, max as f64)
}

/// Whether two cells are the same (Redis skips a cell equal to the one it just scanned).
pub fn same(a: Hash, b: Hash) -> bool {
    a == b
}

pub fn is_zero(cell: Hash) -> bool {
    cell.is_zero()
}

struct Neighbours {
    north: Hash,
    south: Hash,
    east: Hash,
    west: Hash,
    north_east: Hash,
    north_west: Hash,
    south_east: Hash,
    south_west: Hash,
}

/// Moves a cell east (+1) or west (-1): longitude is in the odd bits.
fn move_x(hash: Hash, d: i8) -> Hash {
    let shift = 64 - hash.step as u32 * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    Hash {
        bits: x | y,
        step: hash.step,
    }
}

/// Moves a cell north (+1) or south (-1): latitude is in the even bits.
fn move_y(hash: Hash, d: i8) -> Hash {
    let shift = 64 - hash.step as u32 * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    Hash {
        bits: x | y,
        step: hash.step,
    }
}

fn neighbours(hash: Hash) -> Neighbours {
    Neighbours {
        east: move_x(hash, 1),
        west: move_x(hash, -1),
        south: move_y(hash, -1),
        north: move_y(hash, 1),
        north_west: move_y(move_x(hash, -1), 1),
        north_east: move_y(move_x(hash, 1), 1),
        south_east: move_y(move_x(hash, 1), -1),
        south_west: move_y(move_x(hash, -1), -1),
    }
}

/// A distance as GEODIST and WITHDIST print it: four decimals.
pub fn format_distance(d: f64) -> String {
    format!("{d:.4}")
}

/// A coordinate as Redis's addReplyHumanLongDouble prints it: `%.17Lf` of the value
/// with trailing zeros and a bare point removed.
pub fn format_coordinate(value: f64) -> String {
    let mut text = format!("{value:.17}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (12345, 67890),
        ] {
            let bits = interleave(x, y);
            assert_eq!(deinterleave(bits), x as u64 | ((y as u64) << 32));
        }
    }

    #[test]
    fn scores_and_positions_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698 in Redis,
        // and GEOPOS answers 13.36138933897018433 38.11555639549629859.
        let score = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(score, 3479099956230698.0);
        let (long, lat) = position_of(score);
        assert_eq!(format_coordinate(long), "13.36138933897018433");
        assert_eq!(format_coordinate(lat), "38.11555639549629859");
        assert_eq!(&standard_geohash(score).unwrap(), b"sqc8b49rny0");
        let catania = position_of(score_of(15.087269, 37.502669).unwrap());
        assert_eq!(
            format_distance(distance(long, lat, catania.0, catania.1)),
            "166274.1516"
        );
    }

    #[test]
    fn positions_outside_the_indexable_area_are_refused() {
        assert!(score_of(181.0, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn neighbours_are_adjacent_cells() {
        let hash = encode(WGS84_LONG, WGS84_LAT, 10.0, 10.0, 10).unwrap();
        let centre = decode(WGS84_LONG, WGS84_LAT, hash).unwrap();
        let around = neighbours(hash);
        let east = decode(WGS84_LONG, WGS84_LAT, around.east).unwrap();
        let north = decode(WGS84_LONG, WGS84_LAT, around.north).unwrap();
        assert_eq!(east.long.min, centre.long.max);
        assert_eq!(east.lat.min, centre.lat.min);
        assert_eq!(north.lat.min, centre.lat.max);
        assert_eq!(north.long.min, centre.long.min);
    }

    #[test]
    fn coordinates_print_like_redis() {
        assert_eq!(format_coordinate(0.0), "0");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(2.5), "2.5");
        assert_eq!(format_coordinate(-180.0), "-180");
    }
}
