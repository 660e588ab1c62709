//! Kubernetes resource quantities, exactly: read into billionths of their unit (`n`, the
//! finest a quantity keeps; finer digits round up, as `ParseQuantity` rounds them) and
//! written back in canonical form (`staging/src/k8s.io/apimachinery/pkg/api/resource/
//! quantity.go`, `CanonicalizeBytes`).

const NANO: i128 = 1_000_000_000;

/// Whether a quantity was written with a binary suffix (`Ki`, `Mi`…), which its sums and
/// canonical form keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Binary,
    Decimal,
}

/// `text` in billionths, with its format; `None` if it is not a quantity.
pub fn parse(text: &str) -> Option<(i128, Format)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let places = u32::try_from(fraction.len()).ok().filter(|p| *p <= 30)?;
    let binary = |shift: u32| Some((NANO << shift, 1, Format::Binary));
    let decimal = |power: u32| Some((NANO * 10i128.pow(power), 1, Format::Decimal));
    let (numerator, denominator, format) = match suffix {
        "n" => Some((1, 1, Format::Decimal)),
        "u" => Some((1_000, 1, Format::Decimal)),
        "m" => Some((1_000_000, 1, Format::Decimal)),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        exponent => {
            let power: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            let scale = 10i128.checked_pow(power.unsigned_abs())?;
            if power >= 0 {
                Some((NANO.checked_mul(scale)?, 1, Format::Decimal))
            } else {
                Some((NANO, scale, Format::Decimal))
            }
        }
    }?;
    let denominator: i128 = denominator * 10i128.checked_pow(places)?;
    let scaled = mantissa.checked_mul(numerator)?;
    Some(((scaled + denominator - 1).div_euclid(denominator), format))
}

/// `nanos` billionths written as the API server writes a quantity of `format`: binary with
/// the largest power of 1024 that divides it (plain bytes otherwise), decimal with the
/// largest power of 1000.
pub fn format(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".to_owned();
    }
    if format == Format::Binary && nanos % NANO == 0 && nanos.abs() >= 1024 * NANO {
        let mut value = nanos / NANO;
        let mut suffix = 0;
        const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        while value % 1024 == 0 && suffix + 1 < SUFFIXES.len() {
            value /= 1024;
            suffix += 1;
        }
        return format!("{value}{}", SUFFIXES[suffix]);
    }
    let mut value = nanos;
    let mut suffix = 0;
    const SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];
    while value % 1000 == 0 && suffix + 1 < SUFFIXES.len() {
        value /= 1000;
        suffix += 1;
    }
    format!("{value}{}", SUFFIXES[suffix])
}

#[cfg(test)]
mod tests {
    use super::{format, parse, Format};

    #[test]
    fn quantities_round_trip_in_canonical_form() {
        assert_eq!(parse("206m"), Some((206_000_000, Format::Decimal)));
        assert_eq!(
            parse("2Gi"),
            Some((2 << 30, Format::Binary)).map(|(v, f)| (v * 1_000_000_000, f))
        );
        assert_eq!(parse("1.5"), Some((1_500_000_000, Format::Decimal)));
        assert_eq!(parse("0.1n"), Some((1, Format::Decimal)));
        assert_eq!(parse("many"), None);
        assert_eq!(format(206_000_000, Format::Decimal), "206m");
        assert_eq!(format(2_000_000_000, Format::Decimal), "2");
        assert_eq!(format(36_000_000 * 1_000_000_000, Format::Decimal), "36M");
        assert_eq!(
            format((2383 << 20) * 1_000_000_000, Format::Binary),
            "2383Mi"
        );
        assert_eq!(
            format(2_498_056_448 * 1_000_000_000, Format::Binary),
            "2498056448"
        );
    }
}
