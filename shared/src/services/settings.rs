//! Clinic and appointment-type settings.

use super::{Rappel, ServiceError};
use crate::domain::{AppointmentType, Clinic, ClinicSettings, Modality, TypeCode, TypeSettings};

impl Rappel {
    /// Replaces the clinic's settings; returns them as `GET /v1/clinic` will.
    pub async fn put_clinic_settings(
        &self,
        clinic: &Clinic,
        mut settings: ClinicSettings,
    ) -> Result<ClinicSettings, ServiceError> {
        // Read-only for the clinic: left out, it stays as the operator bound it.
        let bound = &clinic.settings.sender_domain;
        settings.sender_domain = match settings.sender_domain.take() {
            None => bound.clone(),
            Some(domain) => Some(domain.to_ascii_lowercase()),
        };
        if settings.sender_domain != *bound {
            return Err(ServiceError::invalid(
                "sender_domain",
                "the sending domain is bound by the operator (rappel-admin bind-sender), not by the clinic's key",
            ));
        }
        settings
            .check_sender()
            .map_err(|message| ServiceError::invalid("sender_email", message))?;
        let updated = Clinic {
            id: clinic.id.clone(),
            settings,
        };
        self.store.put_clinic(&updated).await?;
        Ok(updated.settings)
    }

    /// Creates or replaces a type; `true` when it was new.
    pub async fn put_appointment_type(
        &self,
        clinic: &Clinic,
        code: TypeCode,
        settings: TypeSettings,
    ) -> Result<(bool, AppointmentType), ServiceError> {
        settings
            .check()
            .map_err(|(field, message)| ServiceError::invalid(field, message))?;
        let appointment_type = AppointmentType { code, settings };
        let created = self.store.put_type(&clinic.id, &appointment_type).await?;
        Ok((created, appointment_type))
    }

    /// How appointments of type `code` happen when a message in an EMR format does not say: the
    /// type's `modality` setting, else in person.
    pub(super) async fn type_modality(&self, clinic: &Clinic, code: &str) -> Result<Modality, ServiceError> {
        let code = TypeCode::parse(code).map_err(|e| ServiceError::invalid("type_code", e.0))?;
        let settings = self.store.type_settings(&clinic.id, &code).await?;
        Ok(settings.and_then(|t| t.modality).unwrap_or(Modality::InPerson))
    }

    /// The clinic's types, by code.
    pub async fn appointment_types(&self, clinic: &Clinic) -> Result<Vec<AppointmentType>, ServiceError> {
        Ok(self.store.types(&clinic.id).await?)
    }
}
