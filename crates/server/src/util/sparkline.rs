//! ASCII sparklines as `LATENCY GRAPH` draws them in Redis 7.0: filled
//! columns a few rows high (`_`, `o`, `#` for the three heights within a
//! row, `|` below the top of a column), with each sample's label written
//! vertically under its column, 80 columns per block.
//!
//! The scale runs from the smallest to the largest sample; a sample's
//! height is the integer part of `(value - min) * steps / (max - min)`
//! where `steps` is three per row, capped at the top step. Redis scales
//! this way, so graphs of the same samples are byte-identical.

/// Characters for the three heights within one row, lowest first.
const CHARSET: [u8; 3] = *b"_o#";
/// The body of a column under its top.
const FILL: char = '|';

/// Renders `samples` (value, label) in blocks of `columns` samples, each
/// `rows` rows high followed by a blank line and the labels.
pub fn render(samples: &[(f64, String)], columns: usize, rows: usize) -> String {
    let mut out = String::new();
    let Some(first) = samples.first() else {
        return out;
    };
    let (mut min, mut max) = (first.0, first.0);
    for (v, _) in samples {
        min = min.min(*v);
        max = max.max(*v);
    }
    let labelled = samples.iter().any(|(_, l)| !l.is_empty());
    for (i, block) in samples.chunks(columns.max(1)).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_block(&mut out, block, min, max, rows, labelled);
    }
    out
}

fn render_block(
    out: &mut String,
    block: &[(f64, String)],
    min: f64,
    max: f64,
    rows: usize,
    labelled: bool,
) {
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (CHARSET.len() * rows) as i64;
    let heights: Vec<i64> = block
        .iter()
        .map(|(v, _)| {
            // Truncations where Redis makes them: the scaled value, then
            // the quotient.
            let scaled = ((v - min) * steps as f64).trunc();
            ((scaled / relmax) as i64).clamp(0, steps - 1)
        })
        .collect();
    // The graph's rows, top first.
    for row in 0..rows {
        let floor = ((rows - row - 1) * CHARSET.len()) as i64;
        let line: String = heights
            .iter()
            .map(|h| match usize::try_from(h - floor) {
                Ok(i) if i < CHARSET.len() => CHARSET[i] as char,
                Ok(_) => FILL,
                Err(_) => ' ',
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    if !labelled {
        return;
    }
    // One blank line, then the labels one character per row.
    out.push_str(&" ".repeat(block.len()));
    out.push('\n');
    let tallest = block.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for k in 0..tallest {
        let line: String = block
            .iter()
            .map(|(_, l)| l.as_bytes().get(k).map_or(' ', |&b| b as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_labels_and_a_flat_line() {
        let s: Vec<(f64, String)> = [(10.0, "2s"), (200.0, "1s"), (400.0, "0s")]
            .iter()
            .map(|(v, l)| (*v, l.to_string()))
            .collect();
        assert_eq!(render(&s, 80, 4), "  #\n  |\n #|\n_||\n   \n210\nsss\n");
        let flat = vec![(5.0, "0s".to_string())];
        assert_eq!(render(&flat, 80, 4), " \n \n \n_\n \n0\ns\n");
    }
}
