//! How the library's choices are spelled on the command line: clap's `ValueEnum` for the
//! summary length and style, the device and the bench's device sets, so that the library
//! itself knows nothing of clap.

use crate::bench::DeviceSet;
use crate::device::DeviceChoice;
use crate::summarize::{Length, Style};
use clap::builder::PossibleValue;
use clap::ValueEnum;

/// Implements `ValueEnum` for `$kind`: each variant, its name on the command line and its
/// help line.
macro_rules! command_line_values {
    ($kind:ty { $($variant:path => $name:literal, $help:literal;)+ }) => {
        impl ValueEnum for $kind {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($variant),+]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $($variant => PossibleValue::new($name).help($help),)+
                })
            }
        }
    };
}

command_line_values!(Length {
    Length::Short => "short", "About 100 words";
    Length::Long => "long", "About 200 words";
});

command_line_values!(Style {
    Style::Paragraph => "paragraph", "One paragraph: who did what, why, and the key figures";
    Style::Highlights => "highlights", "Two or three sentences, like the highlights a news site \
                                        puts above a story";
});

command_line_values!(DeviceChoice {
    DeviceChoice::Auto => "auto", "A GPU when this build has one and the machine too, else the CPU";
    DeviceChoice::Cpu => "cpu", "The CPU";
    DeviceChoice::Cuda => "cuda", "An NVIDIA GPU (a build with the `cuda` feature)";
    DeviceChoice::Metal => "metal", "An Apple GPU (a build with the `metal` feature)";
});

command_line_values!(DeviceSet {
    DeviceSet::Cpu => "cpu", "The CPU";
    DeviceSet::Cuda => "cuda", "An NVIDIA GPU";
    DeviceSet::Metal => "metal", "An Apple GPU";
    DeviceSet::All => "all", "The CPU and every GPU kind (those this build or machine lacks are \
                              reported skipped)";
});
