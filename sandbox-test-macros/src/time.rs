//! The `time(realtime = "...", freeze, monotonic = "...", boottime = "...")` group.
//!
//! Every value is checked with the runtime's own parser (`spec::time`); a bad one is a
//! compile error spanned on the value. The generated code builds a
//! `::sandbox_test::TimeTravel` from the parsed values (`SystemTime`, `Shift`, `Duration`).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{LitStr, Meta, Token};

use crate::model::{flag, option_name, string_value};
use crate::spec::time::{
    parse_namespace_offset, parse_realtime, unix_parts, NamespaceClock, Realtime, TimeSpecError,
};

/// The parsed group.
#[derive(Default)]
pub(crate) struct Model {
    pub realtime: Option<LitStr>,
    pub freeze: Option<Span>,
    pub monotonic: Option<LitStr>,
    pub boottime: Option<LitStr>,
}

const USAGE: &str =
    "expected `time(realtime = \"...\", freeze, monotonic = \"...\", boottime = \"...\")`";

/// Parses `time(...)`.
pub(crate) fn parse(meta: &Meta) -> syn::Result<Model> {
    let Meta::List(list) = meta else {
        return Err(syn::Error::new(meta.span(), USAGE));
    };
    let items = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let mut model = Model::default();
    for item in &items {
        let key = option_name(item)?;
        let slot = match key.as_str() {
            "freeze" => {
                flag(item)?;
                if model.freeze.is_some() {
                    return Err(syn::Error::new(item.span(), "`freeze` is given twice"));
                }
                model.freeze = Some(item.span());
                continue;
            }
            "realtime" => &mut model.realtime,
            "monotonic" => &mut model.monotonic,
            "boottime" => &mut model.boottime,
            _ => {
                return Err(syn::Error::new(
                    item.path().span(),
                    format!(
                        "unknown time option `{key}`; expected realtime, freeze, monotonic or \
                         boottime"
                    ),
                ))
            }
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                item.path().span(),
                format!("`{key}` is given twice"),
            ));
        }
        let value = string_value(item)?;
        let checked = match key.as_str() {
            "realtime" => parse_realtime(&value.value()).map(drop),
            "monotonic" => {
                parse_namespace_offset(NamespaceClock::Monotonic, &value.value()).map(drop)
            }
            _ => parse_namespace_offset(NamespaceClock::Boottime, &value.value()).map(drop),
        };
        checked.map_err(|error| syn::Error::new(value.span(), error))?;
        *slot = Some(value);
    }
    if let (Some(freeze), None) = (model.freeze, &model.realtime) {
        return Err(syn::Error::new(
            freeze,
            TimeSpecError::FreezeWithoutRealtime,
        ));
    }
    Ok(model)
}

impl Model {
    /// The builder call, chained onto `::sandbox_test::Sandbox::new()`; nothing when the
    /// group moves no clock.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        // Every value was checked when the group was parsed.
        let checked = "checked when the time group was parsed";
        let mut travel = quote!(::sandbox_test::TimeTravel::new());
        if let Some(value) = &self.realtime {
            let method = if self.freeze.is_some() {
                quote!(frozen_at)
            } else {
                quote!(realtime)
            };
            let start = match parse_realtime(&value.value()).expect(checked) {
                Realtime::At(instant) => {
                    let (secs, nanos) = unix_parts(instant);
                    quote!(::sandbox_test::__private::unix_instant(#secs, #nanos))
                }
                Realtime::Offset(secs) => {
                    let by = secs.unsigned_abs();
                    let direction = if secs < 0 {
                        quote!(Back)
                    } else {
                        quote!(Forward)
                    };
                    quote!(::sandbox_test::Shift::#direction(::std::time::Duration::from_secs(#by)))
                }
            };
            travel = quote!(#travel.#method(#start)?);
        }
        for (clock, value) in [
            (NamespaceClock::Monotonic, &self.monotonic),
            (NamespaceClock::Boottime, &self.boottime),
        ] {
            if let Some(value) = value {
                let secs = parse_namespace_offset(clock, &value.value())
                    .expect(checked)
                    .as_secs();
                let method = syn::Ident::new(clock.name(), value.span());
                travel = quote!(#travel.#method(::std::time::Duration::from_secs(#secs))?);
            }
        }
        if self.realtime.is_none() && self.monotonic.is_none() && self.boottime.is_none() {
            return TokenStream::new();
        }
        quote!(.time(#travel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error(meta: Meta) -> String {
        parse(&meta).err().expect("an error").to_string()
    }

    fn calls(meta: Meta) -> String {
        parse(&meta).unwrap().builder_calls().to_string()
    }

    #[test]
    fn builds_the_travel() {
        assert_eq!(
            calls(parse_quote!(time(realtime = "2038-01-19T03:14:08Z"))),
            quote!(.time(::sandbox_test::TimeTravel::new()
                .realtime(::sandbox_test::__private::unix_instant(2147483648i64, 0u32))?))
            .to_string()
        );
        let frozen = calls(parse_quote!(time(
            freeze,
            realtime = "-90m",
            boottime = "+497d",
            monotonic = "+49d17h"
        )));
        assert!(
            frozen.contains(
                ". frozen_at (:: sandbox_test :: Shift :: Back (:: std :: time :: Duration :: \
                 from_secs (5400u64))) ?"
            ),
            "{frozen}"
        );
        assert!(
            frozen.contains(". monotonic (:: std :: time :: Duration :: from_secs (4294800u64)) ?"),
            "{frozen}"
        );
        assert!(
            frozen.contains(". boottime (:: std :: time :: Duration :: from_secs (42940800u64)) ?"),
            "{frozen}"
        );
        assert_eq!(calls(parse_quote!(time())), "");
    }

    #[test]
    fn bad_values_are_errors_with_the_parsers_message() {
        assert!(error(parse_quote!(time(realtime = "2027-02-29T00:00:00Z")))
            .contains("2027 is not a leap year"));
        assert!(error(parse_quote!(time(realtime = "+10x"))).contains("unknown unit 'x'"));
        assert!(error(parse_quote!(time(monotonic = "-1d"))).contains("below zero"));
        assert!(error(parse_quote!(time(boottime = "+147y"))).contains("kernel's limit"));
        assert!(error(parse_quote!(time(freeze))).contains("`freeze` needs a `realtime`"));
        assert!(error(parse_quote!(time(realtime = 2038))).contains("expected a string literal"));
        assert!(error(parse_quote!(time(freeze = true))).contains("takes no value"));
        assert!(error(parse_quote!(time(speed = "2x"))).contains("unknown time option"));
        assert!(
            error(parse_quote!(time(boottime = "+1d", boottime = "+2d"))).contains("given twice")
        );
        assert!(error(parse_quote!(time)).contains("expected `time("));
    }
}
